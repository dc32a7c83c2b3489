/**
 * `lockstep stamp`: mark migrations applied without running them (adopting
 * an existing database), or accept an applied migration's changed file.
 *
 * @module
 */
import { command, usage } from "./command.ts";
import { confirmOrRefuse, print, printJson } from "./output.ts";

export default command({
  name: "stamp",
  summary: "mark applied without running (or accept a changed file)",
  usage: ["stamp ID|--all [--yes]"],
  options: {
    all: { type: "boolean", help: "stamp every pending migration" },
    yes: { type: "boolean", short: "y", help: "go ahead without asking (unattended)" },
  },
  positionals: [{
    name: "ID",
    optional: true,
    help: "the migration to stamp, with the unapplied ones it depends on",
  }],
  config: "required",
  async run({ config, values, args }) {
    const { stamp } = await import("../lib/migrations/stamp.ts");
    const target = values.all ? "all" : args[0];
    if (target === undefined || (values.all && args.length > 0)) {
      throw usage("stamp takes one migration id, or --all", "stamp");
    }
    const { json, yes } = values;
    const result = await stamp(config, target, {
      confirm: (ids) =>
        confirmOrRefuse(`stamp ${ids.length} migration(s) as applied without running them`, ids, {
          yes,
          json,
        }),
    });
    if (json) printJson({ ok: true, ...result });
    else if (!result.confirmed) print("Nothing was stamped.");
    else {
      for (const id of result.stamped) print(`stamped ${id}`);
      for (const id of result.accepted) print(`accepted the changed file of ${id}`);
      if (result.stamped.length + result.accepted.length === 0) print("Nothing to stamp.");
    }
    return result.confirmed ? 0 : 1;
  },
});
