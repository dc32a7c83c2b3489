/**
 * `lockstep log`: the history, newest first: every database's ledger events
 * (migrations applied, stamped, baselined or failed, drift accepted, schemas
 * recorded) and the code's installs and restores.
 *
 * @module
 */
import type { LogEntry } from "../mod.ts";
import { command, usage } from "./command.ts";
import { print, printJson } from "./output.ts";

export default command({
  name: "log",
  summary: "the history: migrations, installs and restores, newest first",
  options: {
    limit: {
      type: "string",
      value: "N",
      default: "50",
      help: "show at most the N newest entries",
    },
    database: {
      type: "string",
      value: "NAME",
      help: "only this database's events (default: every database and the code)",
    },
  },
  positionals: [],
  config: "required",
  async run({ config, values }) {
    const { log } = await import("../lib/log.ts");
    const limit = Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1) {
      throw usage(`--limit takes a whole number above 0, not "${values.limit}"`, "log");
    }
    const entries = await log(config, {
      limit,
      ...(values.database === undefined ? {} : { database: values.database }),
    });
    if (values.json) printJson({ ok: true, entries });
    else if (entries.length === 0) {
      print("Nothing has happened yet: no migration, install or restore.");
    } else for (const entry of entries) print(line(entry));
    return 0;
  },
});

/** `2026-11-01 12:00:03  main  applied  core/2026…_users  12 ms  host-a  ok`. */
function line(entry: LogEntry): string {
  const at = entry.at.replace("T", " ").replace(/\.\d+Z$|Z$/, "");
  const duration = entry.durationMs === null ? "" : `${entry.durationMs} ms`;
  const outcome = entry.outcome === "failed" ? `FAILED: ${entry.message}` : "ok";
  return [at, entry.source, entry.action, entry.id ?? "-", duration, entry.host ?? "", outcome]
    .filter((part, i) => part !== "" || i < 4)
    .join("  ");
}
