/**
 * `lockstep backups`: list backups, newest first, each with a cheap
 * validity check.
 *
 * @module
 */
import { command } from "./command.ts";
import { megabytes, print, printJson } from "./output.ts";

export default command({
  name: "backups",
  summary: "list backups (time, label, version, size, valid)",
  options: {},
  positionals: [],
  config: "required",
  async run({ config, values }) {
    const { listBackups } = await import("../lib/backup/list.ts");
    const list = await listBackups(config);
    if (values.json) {
      printJson({ ok: true, backups: list.map(({ manifest: _, ...info }) => info) });
      return 0;
    }
    if (list.length === 0) print(`No backups in ${config.backups}.`);
    for (const b of list) {
      print(
        `${b.id}  ${b.created ?? "?"}  ${b.codeVersion ?? "-"}  ${megabytes(b.size)}  ${
          b.valid ? "valid" : `INVALID: ${b.problem}`
        }${b.partial.length > 0 ? `  PARTIAL: without ${b.partial.join(", ")}` : ""}`,
      );
    }
    return 0;
  },
});
