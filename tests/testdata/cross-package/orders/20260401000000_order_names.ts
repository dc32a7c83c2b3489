export default {
  info: "orders copy the user's display name",
  dependsOn: ["core/20260301000000_user_names"],
  async up(ctx) {
    await ctx.sql.exec("alter table orders add column user_name text");
  },
};
