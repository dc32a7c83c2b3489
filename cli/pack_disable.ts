/**
 * `lockstep pack disable NAME`: disable a pack: its files stay, its migrations stop counting, packs() leaves it out.
 * Writes state.json only.
 *
 * @module
 */
import { command } from "./command.ts";
import { print, printJson } from "./output.ts";

export default command({
  name: "pack disable",
  summary: "disable a pack: its files stay, its migrations stop counting, packs() leaves it out",
  options: {},
  positionals: [{ name: "NAME", help: "the pack" }],
  config: "required",
  async run({ config, values, args }) {
    const { disablePack } = await import("../lib/packs/toggle.ts");
    const result = await disablePack(config, args[0]!);
    if (values.json) printJson({ ok: true, ...result });
    else {
      print(
        `Pack ${result.pack} is ${result.enabled ? "enabled" : "disabled"}${
          result.changed ? "" : " (it already was)"
        }.`,
      );
    }
    return 0;
  },
});
