// Converts config/settings.json, creates config/new.json, then fails:
// both file changes must be undone with the database changes.
export default {
  info: "convert settings, then fail",
  async up(ctx) {
    const settings = await ctx.files.readJson("config/settings.json");
    await ctx.files.writeJson("config/settings.json", { ...settings, converted: true });
    await ctx.files.writeText("config/new.json", "{}\n");
    await ctx.sql.exec("create table converted (id integer)");
    throw new Error("conversion failed on purpose");
  },
};
