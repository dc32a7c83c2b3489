/**
 * `lockstep recover`: roll an interrupted install or restore back to the
 * previous tree, or finish one that had committed.
 *
 * @module
 */
import { command } from "./command.ts";
import { print, printJson } from "./output.ts";

export default command({
  name: "recover",
  summary: "roll an interrupted install or restore back",
  options: {},
  positionals: [],
  config: "required",
  async run({ config, values }) {
    const { recover } = await import("../lib/recover.ts");
    const result = await recover(config);
    if (values.json) printJson({ ok: true, ...result });
    else if (result.outcome === "none") {
      print("Nothing to recover: no interrupted install or restore.");
    } else if (result.outcome === "rolled-back") {
      print(
        `Rolled back ${result.label ?? "an interrupted install"}: the previous files are back.`,
      );
    } else print(`Finished ${result.label}: it had committed before it was interrupted.`);
    return 0;
  },
});
