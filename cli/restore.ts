/**
 * `lockstep restore`: verify a backup, then put the files and databases
 * back as it holds them, in maintenance mode.
 *
 * @module
 */
import { restore } from "../mod.ts";
import { command } from "./command.ts";
import { confirmOrRefuse, print, printJson, progress } from "./output.ts";
import { faultOption, guarded } from "./policy.ts";

export default command({
  name: "restore",
  summary: "put files and databases back as the backup holds them",
  options: {
    yes: { type: "boolean", short: "y", help: "go ahead without asking (unattended)" },
  },
  positionals: [{ name: "ID", help: "the backup (see lockstep backups)" }],
  config: "required",
  async run({ config, values, args }) {
    const { json, yes } = values;
    const result = await guarded(
      config,
      { by: "restore", json },
      (ready) =>
        restore(config, args[0]!, {
          confirm: async (plan) =>
            await confirmOrRefuse(
              `restore backup ${plan.id} (${plan.writes.length} file(s) written, ` +
                `${plan.removes.length} removed, databases: ${
                  plan.databases.join(", ") || "none"
                })`,
              [...plan.writes, ...plan.removes.map((p) => `remove ${p}`)],
              { yes, json },
              () => {},
            ) && await ready(),
          ...faultOption(),
          ...progress(json),
        }),
    );
    if (json) printJson({ ok: result.confirmed, ...result });
    else if (!result.confirmed) print("Nothing was restored.");
    else {
      print(
        `Restored backup ${result.id} (code ${result.codeVersion ?? "without a version"}): ` +
          `${result.writes.length} file(s) written, ${result.removes.length} removed, ` +
          `${result.unchanged} unchanged; databases: ${result.databases.join(", ") || "none"}.`,
      );
    }
    return result.confirmed ? 0 : 1;
  },
});
