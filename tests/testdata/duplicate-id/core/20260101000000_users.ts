export default { info: "users again", up: async (ctx) => await ctx.sql.exec("create table users2 (id integer)") };
