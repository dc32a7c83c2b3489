/**
 * `lockstep pack install NAME`: add a pack from pending/ (or update it):
 * the operator's consent to add its code and tables, recorded in the event
 * log with who and when; a backup first, then its files through the install
 * journal and its migrations, in maintenance mode.
 *
 * @module
 */
import type { PackInstallResult, StepResult } from "../mod.ts";
import { command } from "./command.ts";
import { operator } from "./env.ts";
import { stoppable } from "./interrupt.ts";
import { confirmOrRefuse, print, printJson, renderProgress } from "./output.ts";
import { safety } from "./safety.ts";

export default command({
  name: "pack install",
  summary: "add a pack (or update one) from pending/: its files and its migrations, with consent",
  options: {
    version: {
      type: "string",
      value: "V",
      help: "install up to this version (default: the newest in pending/)",
    },
    yes: { type: "boolean", short: "y", help: "go ahead without asking (unattended)" },
    "dry-run": {
      type: "boolean",
      help: "verify the pack's bundles and list the files they would write; change nothing",
    },
  },
  positionals: [{ name: "NAME", help: "the pack" }],
  config: "required",
  async run({ config, values, args }) {
    const { installPack } = await import("../lib/packs/install.ts");
    const { json, yes } = values;
    const name = args[0]!;
    using stop = stoppable();
    const result = await installPack(config, name, {
      ...(values.version === undefined ? {} : { version: values.version }),
      dryRun: values["dry-run"],
      by: operator(yes),
      confirm: (plan) =>
        confirmOrRefuse(
          `add pack ${name} ${plan.from ?? "(none)"} → ${plan.to}: its files and its tables`,
          plan.bundles.map((b) => `${b.file}: ${b.writes.length} file(s)`),
          { yes, json },
        ),
      ...safety(false, json),
      signal: stop.signal,
      ...(json ? {} : {
        onStep: (s: StepResult) =>
          print(`${s.step}: ${s.detail} (${(s.durationMs / 1000).toFixed(1)} s)`),
        onMigrate: renderProgress,
      }),
    });
    if (json) printJson({ ok: result.confirmed, ...result });
    else render(result);
    return result.confirmed ? 0 : 1;
  },
});

function render(result: PackInstallResult): void {
  const change = `${result.from ?? "(none)"} → ${result.to}`;
  if (result.dryRun) {
    print(`Would install pack ${result.pack} ${change}:`);
    for (const b of result.bundles) {
      print(`  ${b.file}: ${b.writes.length} file(s) written, ${b.removes.length} removed`);
      for (const path of b.writes) print(`    write ${path}`);
      for (const path of b.removes) print(`    remove ${path}`);
    }
  } else if (!result.confirmed) print("Nothing was installed.");
  else {
    print(
      `Installed pack ${result.pack} ${change}: ${result.bundles.length} bundle(s), ` +
        `${result.applied.length} migration(s).` +
        (result.backup === null ? "" : ` Backup taken first: ${result.backup}.`),
    );
  }
}
