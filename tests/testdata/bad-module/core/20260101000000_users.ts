// No up(): not a migration.
export default { info: "users", dependOn: [] };
