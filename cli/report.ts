/**
 * `lockstep report`: what is installed, what waits, what is wrong and what
 * to run, read-only and offline: a summary on the terminal, `--json` for the
 * data, `--html FILE` for the self-contained page.
 *
 * @module
 */
import { command } from "./command.ts";
import { print, printJson } from "./output.ts";

export default command({
  name: "report",
  summary: "what is installed, waiting and wrong, and what to run (read-only, offline)",
  options: {
    html: {
      type: "string",
      value: "FILE",
      help: "write the report as one self-contained HTML page (atomically)",
    },
  },
  positionals: [],
  config: "required",
  async run({ config, values }) {
    const { report } = await import("../lib/report/data.ts");
    const { writeReportHtml } = await import("../lib/report/html.ts");
    const data = await report(config);
    if (values.html !== undefined) await writeReportHtml(data, values.html);
    if (values.json) {
      printJson({ ok: true, ...data });
      return 0;
    }
    print(`${data.app}: ${data.verdict.state} (check exit ${data.verdict.exitCode})`);
    print(`  ${data.verdict.summary}`);
    for (const f of data.findings) {
      if (f.level === "good") continue;
      print(`  [${f.level}] ${f.label}${f.command ? `: ${f.command}` : ""}`);
    }
    if (values.html !== undefined) print(`Wrote ${values.html}.`);
    return 0;
  },
});
