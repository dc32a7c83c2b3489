/**
 * `lockstep new`: write a timestamped migration file in a package's folder,
 * or a release marker that depends on every current head.
 *
 * @module
 */
import { command, usage } from "./command.ts";
import { print, printJson } from "./output.ts";

export default command({
  name: "new",
  summary: "write a migration, or a release marker after every head",
  usage: ["new PACKAGE NAME [--sql]", "new --release VERSION [PACKAGE]"],
  options: {
    sql: { type: "boolean", help: "write a .sql migration (default: .ts)" },
    release: {
      type: "string",
      value: "VERSION",
      help: "write a release marker for VERSION instead (in PACKAGE, default: the first)",
    },
  },
  positionals: [
    { name: "PACKAGE", optional: true, help: "the package whose folder gets the file" },
    { name: "NAME", optional: true, help: "the migration's name (letters, digits, _)" },
  ],
  config: "required",
  async run({ config, values, args }) {
    const { newMigration, newRelease } = await import("../lib/migrations/scaffold.ts");
    let path: string;
    if (values.release !== undefined) {
      if (args.length > 1) throw usage("new --release VERSION takes at most one PACKAGE", "new");
      path = await newRelease(config, values.release, args[0] ? { package: args[0] } : {});
    } else {
      if (args.length !== 2) throw usage("new takes PACKAGE NAME", "new");
      path = await newMigration(config, args[0]!, args[1]!, { sql: values.sql });
    }
    if (values.json) printJson({ ok: true, path });
    else print(`Created ${path}`);
    return 0;
  },
});
