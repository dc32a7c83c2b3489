/**
 * `lockstep restore`: verify a backup, say what it will change and discard,
 * back the present up, then put the files and databases back as it holds
 * them, in maintenance mode.
 *
 * @module
 */
import { command } from "./command.ts";
import { confirmOrRefuse, print, printJson, progress } from "./output.ts";
import { stoppable } from "./interrupt.ts";
import { safety } from "./safety.ts";

export default command({
  name: "restore",
  summary: "put files and databases back as the backup holds them",
  options: {
    yes: { type: "boolean", short: "y", help: "go ahead without asking (unattended)" },
    "no-backup": {
      type: "boolean",
      help: "skip the backup of the present taken before the first change (before-restore)",
    },
  },
  positionals: [{ name: "ID", help: "the backup (see lockstep backups)" }],
  config: "required",
  async run({ config, values, args }) {
    const { restore } = await import("../lib/backup/restore.ts");
    const { json, yes } = values;
    using stop = stoppable();
    const result = await restore(config, args[0]!, {
      confirm: (plan) =>
        confirmOrRefuse(
          `restore backup ${plan.id} of ${plan.created} (code ${
            plan.currentVersion ?? "(none)"
          } → ${plan.codeVersion ?? "(none)"}; ${plan.writes.length} file(s) written, ` +
            `${plan.removes.length} removed; databases replaced: ${
              plan.databases.join(", ") || "none"
            }: whatever was written to them since the backup is discarded${
              plan.partial.length > 0
                ? `; a PARTIAL backup: ${plan.partial.join(", ")} will be gone`
                : ""
            })`,
          [...plan.writes, ...plan.removes.map((p) => `remove ${p}`)],
          { yes, json },
          () => {},
        ),
      ...safety(values["no-backup"], json),
      signal: stop.signal,
      ...progress(json),
    });
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
