/**
 * `lockstep check`: the startup gate. Read-only (but for its hints, when it
 * may write them) and lock-free; exits 0 when the application may run, 3
 * (bundles pending), 4 (migrations pending) or 5 (blocked).
 *
 * @module
 */
import type { CheckReport } from "../mod.ts";
import { command } from "./command.ts";
import { print, printJson } from "./output.ts";

export default command({
  name: "check",
  summary: "may the application run? exit 0, 3 (bundles pending), 4 (migrations pending) " +
    "or 5 (blocked); reads only",
  options: {},
  positionals: [],
  config: "required",
  async run({ config, values }) {
    const { check } = await import("../lib/check.ts");
    const report = await check(config);
    if (values.json) printJson(report);
    else renderCheck(report);
    return report.exitCode;
  },
});

function renderCheck(report: CheckReport): void {
  const verdict = report.ok ? "ok: the application may run" : `not ok (exit ${report.exitCode})`;
  const packs = report.packs.filter((p) => p.version !== null)
    .map((p) => `${p.name} ${p.version}${p.enabled ? "" : " (disabled)"}`);
  const withPacks = packs.length === 0 ? "" : ` with pack(s) ${packs.join(", ")}`;
  print(`${report.app} ${report.codeVersion ?? "(no version file)"}${withPacks}: ${verdict}`);
  for (const problem of report.problems) print(`  [${problem.severity}] ${problem.message}`);
}
