/**
 * `lockstep update`: check, back up, maintenance on, install, migrate,
 * maintenance off, each step timed; on failure what it changed is undone.
 *
 * @module
 */
import type { UpdateStepResult } from "../mod.ts";
import { command, seconds } from "./command.ts";
import { stoppable } from "./interrupt.ts";
import { confirmOrRefuse, print, printJson, renderProgress } from "./output.ts";

export default command({
  name: "update",
  summary: "check, back up, maintenance on, install, migrate, maintenance off; " +
    "undoes what it changed on failure",
  options: {
    yes: { type: "boolean", short: "y", help: "go ahead without asking (unattended)" },
    "lock-timeout": {
      type: "string",
      value: "SECONDS",
      default: "30",
      help: "how long migrate waits for another lockstep process's lock",
    },
  },
  positionals: [],
  config: "required",
  async run({ config, values }) {
    const { update } = await import("../lib/update.ts");
    const { json, yes } = values;
    using stop = stoppable();
    const result = await update(config, {
      confirm: (report) =>
        confirmOrRefuse(
          "update: back up, install and migrate",
          report.problems.filter((p) => p.severity !== "warning").map((p) => p.message),
          { yes, json },
        ),
      lockTimeoutMs: seconds(values["lock-timeout"], "lock-timeout") * 1000,
      signal: stop.signal,
      ...(json ? {} : {
        onStep: (s: UpdateStepResult) =>
          print(`${s.step}: ${s.detail} (${(s.durationMs / 1000).toFixed(1)} s)`),
        onMigrate: renderProgress,
      }),
    });
    if (json) printJson({ ok: result.confirmed, ...result });
    else if (!result.confirmed) print("Nothing was changed.");
    else if (!result.changed) print("Nothing to update: code and databases are current.");
    else {
      // The version changes only when a bundle was installed: "1.6.0 → 1.6.0" says nothing.
      const packs = result.packs.length === 0 ? "" : ` Packs: ${result.packs.join(", ")}.`;
      const what = result.installed.length === 0 && result.packs.length === 0
        ? `Migrated ${config.app} ${result.to ?? "(no version)"}: ` +
          `${result.applied.length} migration(s) applied.`
        : result.installed.length === 0
        ? `Updated the packs of ${config.app} ${result.to ?? "(no version)"}: ` +
          `${result.packs.length} bundle(s), ${result.applied.length} migration(s).${packs}`
        : `Updated ${config.app} ${result.from ?? "(none)"} → ${result.to ?? "(none)"}: ` +
          `${result.installed.length} bundle(s), ${result.applied.length} migration(s).${packs}`;
      print(`${what}${result.backup === null ? "" : ` Backup taken first: ${result.backup}.`}`);
    }
    return result.confirmed ? 0 : 1;
  },
});
