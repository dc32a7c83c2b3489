/**
 * `lockstep pack remove NAME`: a backup first, then the pack's folder moved
 * out through the journal; its tables and ledger rows stay (a reinstall
 * resumes them) unless `--purge` undoes its migrations first.
 *
 * @module
 */
import type { StepResult } from "../mod.ts";
import { command } from "./command.ts";
import { operator } from "./env.ts";
import { stoppable } from "./interrupt.ts";
import { confirmOrRefuse, print, printJson } from "./output.ts";
import { safety } from "./safety.ts";

export default command({
  name: "pack remove",
  summary: "remove a pack's files (its tables and ledger rows stay, unless --purge)",
  options: {
    purge: {
      type: "boolean",
      help: "also undo its migrations by their down steps (refused unless every one has one)",
    },
    yes: { type: "boolean", short: "y", help: "go ahead without asking (unattended)" },
  },
  positionals: [{ name: "NAME", help: "the pack" }],
  config: "required",
  async run({ config, values, args }) {
    const { removePack } = await import("../lib/packs/remove.ts");
    const { json, yes, purge } = values;
    const name = args[0]!;
    using stop = stoppable();
    const result = await removePack(config, name, {
      purge,
      by: operator(yes),
      confirm: (plan) =>
        confirmOrRefuse(
          `remove pack ${name} ${plan.version}: ${plan.files.length} file(s)` +
            (purge ? `, and undo ${plan.purge.length} migration(s): their data is lost` : ""),
          [...plan.purge.map((id) => `undo ${id}`), ...plan.files],
          { yes, json },
        ),
      ...safety(false, json),
      signal: stop.signal,
      ...(json ? {} : {
        onStep: (s: StepResult) =>
          print(`${s.step}: ${s.detail} (${(s.durationMs / 1000).toFixed(1)} s)`),
      }),
    });
    if (json) printJson({ ok: result.confirmed, ...result });
    else if (!result.confirmed) print("Nothing was removed.");
    else {
      print(
        `Removed pack ${result.pack} ${result.version}: ${result.files.length} file(s)` +
          (purge
            ? `, ${result.purge.length} migration(s) undone.`
            : `; its tables and ledger rows are kept.`) +
          (result.backup === null ? "" : ` Backup taken first: ${result.backup}.`),
      );
    }
    return result.confirmed ? 0 : 1;
  },
});
