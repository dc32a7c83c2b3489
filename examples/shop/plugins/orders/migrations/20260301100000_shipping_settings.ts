// Moves the shipping setting from config/settings.json into a structured
// "orders" section, and records the default shipping method in the database.
// Self-contained: it imports nothing from the application.
export default {
  info: "orders: structured shipping settings",
  dependsOn: ["core/20260215090000_user_names"],
  async up(ctx) {
    const settings = await ctx.files.readJson("config/settings.json", {});
    const method = settings.shipping ?? "standard";
    delete settings.shipping;
    settings.orders = { shipping: { default: method, methods: [method] } };
    await ctx.files.writeJson("config/settings.json", settings);
    await ctx.sql.exec(
      "create table shipping_methods (name text primary key, is_default integer not null)",
    );
    await ctx.sql.query("insert into shipping_methods (name, is_default) values ($1, 1)", [method]);
    ctx.log(`default shipping method: ${method}`);
  },
};
