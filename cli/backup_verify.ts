/**
 * `lockstep backup verify`: re-hash every artifact of a backup and open
 * every archive and dump (`--restore`: and restore each database into a
 * scratch database, removed afterwards); exit 1 with the problems when it
 * fails.
 *
 * @module
 */
import { command } from "./command.ts";
import { print, printJson, progress } from "./output.ts";

export default command({
  name: "backup verify",
  summary: "re-hash every artifact and open every archive",
  options: {
    restore: {
      type: "boolean",
      help: "also restore each database into a scratch database (removed afterwards): " +
        "proof that the backup restores",
    },
  },
  positionals: [{ name: "ID", help: "the backup (see lockstep backups)" }],
  config: "required",
  async run({ config, values, args }) {
    const { verifyBackup } = await import("../lib/backup/verify.ts");
    const result = await verifyBackup(config, args[0]!, {
      ...progress(values.json),
      restore: values.restore,
    });
    const { manifest: _, ...rest } = result;
    if (values.json) printJson(rest);
    else if (result.ok) {
      print(
        `Backup ${result.id} is intact: every artifact matches and opens` +
          (result.restored.length > 0
            ? `, and database(s) ${result.restored.join(", ")} restored into a scratch copy.`
            : "."),
      );
      if (result.partial.length > 0) {
        print(`It is PARTIAL: it does not hold ${result.partial.join(", ")}.`);
      }
    } else {
      print(`Backup ${result.id} FAILS verification:`);
      for (const problem of result.problems) print(`  ${problem}`);
    }
    return result.ok ? 0 : 1;
  },
});
