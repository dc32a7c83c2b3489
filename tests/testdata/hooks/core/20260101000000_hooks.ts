// Records the order in which the hooks ran; estimate() is shown by dry runs.
export default {
  info: "hooks run in order",
  estimate: () => 42,
  async pre(ctx) {
    await ctx.sql.exec("create table hook_log (step text not null)");
    await ctx.sql.query("insert into hook_log (step) values ($1)", ["pre"]);
  },
  async up(ctx) {
    await ctx.sql.query("insert into hook_log (step) values ($1)", [ctx.yes ? "up:yes" : "up"]);
    ctx.progress(1, 1);
  },
  async post(ctx) {
    await ctx.sql.query("insert into hook_log (step) values ($1)", ["post"]);
  },
};
