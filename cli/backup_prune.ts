/**
 * `lockstep backup prune`: keep the newest `backup.keep` valid backups and
 * remove the rest (never the newest valid one); `--dry-run` only lists them.
 *
 * @module
 */
import { command } from "./command.ts";
import { print, printJson } from "./output.ts";

export default command({
  name: "backup prune",
  summary: "keep the newest backup.keep valid backups",
  options: {
    "dry-run": { type: "boolean", help: "list the backups it would remove; remove nothing" },
  },
  positionals: [],
  config: "required",
  async run({ config, values }) {
    const { pruneBackups } = await import("../lib/backup/prune.ts");
    const result = await pruneBackups(config, { dryRun: values["dry-run"] });
    if (values.json) printJson({ ok: true, ...result });
    else {
      const verb = result.dryRun ? "would remove" : "removed";
      for (const id of result.removed) print(`${verb} ${id}`);
      print(
        `${result.dryRun ? "Would keep" : "Kept"} ${result.kept.length} backup(s) ` +
          `(backup.keep is ${config.backup.keep}).${
            result.dryRun ? " Nothing was removed (--dry-run)." : ""
          }`,
      );
    }
    return 0;
  },
});
