/**
 * `lockstep backup`: back up the app root and every database to
 * `updates/backups/<UTC>[-label]/`, verified before it is renamed into place.
 *
 * @module
 */
import type { BackupManifest } from "../mod.ts";
import { command } from "./command.ts";
import { megabytes, print, printJson, progress } from "./output.ts";

export default command({
  name: "backup",
  summary: "back up the app root and every database",
  usage: ["backup [--files-only|--db-only] [--label TEXT] [--allow-partial]"],
  options: {
    "files-only": { type: "boolean", help: "back up the app root only" },
    "db-only": { type: "boolean", help: "back up the databases only" },
    label: { type: "string", value: "TEXT", help: "appended to the backup's id" },
    "allow-partial": {
      type: "boolean",
      help: "write the built-in PostgreSQL dump without the objects it cannot carry (named, " +
        "and the backup marked partial) instead of refusing; --allow-run=pg_dump carries all",
    },
  },
  positionals: [],
  config: "required",
  async run({ config, values }) {
    const { backup } = await import("../lib/backup/backup.ts");
    const result = await backup(config, {
      filesOnly: values["files-only"],
      dbOnly: values["db-only"],
      ...(values.label === undefined ? {} : { label: values.label }),
      partial: values["allow-partial"],
      ...progress(values.json),
    });
    if (values.json) printJson({ ok: true, ...result });
    else renderBackup(result);
    return 0;
  },
});

function renderBackup(result: BackupManifest & { path: string }): void {
  print(`Backed up to ${result.path} in ${(result.durationMs / 1000).toFixed(1)} s:`);
  if (result.files) {
    print(
      `  files.zip: ${result.files.count} file(s), ${megabytes(result.files.bytes)} → ${
        megabytes(result.files.size)
      }`,
    );
    for (const path of result.files.skipped) print(`  skipped ${path} (not a regular file)`);
  }
  for (const db of result.databases) {
    print(`  ${db.artifact}: database ${db.name} (${db.format}), ${megabytes(db.size)}`);
    for (const what of db.skipped) {
      print(`    not in this PARTIAL backup: ${what} (--allow-run=pg_dump carries it)`);
    }
  }
}
