/**
 * `lockstep bundle inspect`: what a bundle holds, its signature, and (with a
 * `lockstep.json`) whether this host would accept it; exit 1 when not.
 *
 * @module
 */
import type { BundleReport } from "../mod.ts";
import { command } from "./command.ts";
import { print, printJson } from "./output.ts";

export default command({
  name: "bundle inspect",
  summary: "what a bundle holds, and whether this host accepts it",
  options: {},
  positionals: [{ name: "FILE", help: "the bundle (a .zip file)" }],
  config: "optional",
  async run({ config, values, args }) {
    const { inspect } = await import("../lib/bundles/inspect.ts");
    const report = await inspect(args[0]!, config);
    if (values.json) printJson({ ok: true, ...report });
    else renderBundle(report);
    return report.problem ? 1 : 0;
  },
});

function renderBundle(report: BundleReport): void {
  const m = report.manifest;
  if (m) {
    print(`${report.file}: ${m.app} ${m.version}${m.security ? " [security]" : ""}`);
    if (m.upgradesFrom) print(`  upgrades from ${m.upgradesFrom}`);
    print(
      `  ${
        Object.keys(m.files).length
      } file(s), ${m.remove.length} removal(s); signature: ${report.signature}`,
    );
    if (m.notes) print(m.notes.replace(/^/gm, "  | "));
    for (const line of m.database) print(`  database: ${line}`);
  }
  if (report.problem) {
    print(`  NOT USABLE [${report.problem.code}]: ${report.problem.message}`);
  }
}
