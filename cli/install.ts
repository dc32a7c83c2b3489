/**
 * `lockstep install`: install pending update bundles (or one) in version
 * order, after a backup, in maintenance mode.
 *
 * @module
 */
import type { InstallResult } from "../mod.ts";
import { command } from "./command.ts";
import { confirmOrRefuse, print, printJson } from "./output.ts";
import { stoppable } from "./interrupt.ts";
import { safety } from "./safety.ts";

export default command({
  name: "install",
  summary: "install pending update bundles in version order",
  options: {
    yes: { type: "boolean", short: "y", help: "go ahead without asking (unattended)" },
    "dry-run": {
      type: "boolean",
      help: "list the files each bundle would write and remove; change nothing",
    },
    "no-backup": { type: "boolean", help: "skip the backup taken before the first write" },
  },
  positionals: [{
    name: "BUNDLE",
    optional: true,
    help: "install only this bundle (default: every applicable one in pending/)",
  }],
  config: "required",
  async run({ config, values, args }) {
    const { install } = await import("../lib/bundles/install.ts");
    const { json, yes } = values;
    using stop = stoppable();
    const result = await install(config, {
      ...(args[0] === undefined ? {} : { bundle: args[0] }),
      dryRun: values["dry-run"],
      confirm: (versions) =>
        confirmOrRefuse(`install ${versions.join(", ")}`, versions, { yes, json }),
      ...safety(values["no-backup"], json),
      signal: stop.signal,
    });
    const ok = result.refused.length === 0 && result.confirmed;
    if (json) printJson({ ok, ...result });
    else if (!result.confirmed) print("Nothing was installed.");
    else renderInstall(result);
    return ok ? 0 : 1;
  },
});

function renderInstall(result: InstallResult): void {
  for (const b of result.installed) {
    const verb = result.dryRun ? "would install" : "installed";
    print(
      `${verb} ${b.file}: ${b.pack === undefined ? "" : `pack ${b.pack} `}${
        b.from ?? "(none)"
      } → ${b.version}, ${b.writes.length} file(s) written, ${b.removes.length} removed`,
    );
    if (result.dryRun) { for (const path of b.writes) print(`  write ${path}`); }
    if (result.dryRun) { for (const path of b.removes) print(`  remove ${path}`); }
  }
  for (const r of result.refused) print(`refused ${r.file} [${r.code}]: ${r.message}`);
  if (result.installed.length === 0 && result.refused.length === 0) {
    print("Nothing to install: no pending bundles.");
  }
}
