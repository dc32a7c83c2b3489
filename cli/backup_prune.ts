/**
 * `lockstep backup prune`: keep the newest `backup.keep` valid backups and
 * remove the rest (never the newest valid one).
 *
 * @module
 */
import { pruneBackups } from "../mod.ts";
import { command } from "./command.ts";
import { print, printJson } from "./output.ts";

export default command({
  name: "backup prune",
  summary: "keep the newest backup.keep valid backups",
  options: {},
  positionals: [],
  config: "required",
  async run({ config, values }) {
    const result = await pruneBackups(config);
    if (values.json) printJson({ ok: true, ...result });
    else {
      for (const id of result.removed) print(`removed ${id}`);
      print(`Kept ${result.kept.length} backup(s) (backup.keep is ${config.backup.keep}).`);
    }
    return 0;
  },
});
