/**
 * `lockstep pack enable NAME`: enable an installed pack: its migrations count again, packs() lists it.
 * Writes state.json only.
 *
 * @module
 */
import { command } from "./command.ts";
import { print, printJson } from "./output.ts";

export default command({
  name: "pack enable",
  summary: "enable an installed pack: its migrations count again, packs() lists it",
  options: {},
  positionals: [{ name: "NAME", help: "the pack" }],
  config: "required",
  async run({ config, values, args }) {
    const { enablePack } = await import("../lib/packs/toggle.ts");
    const result = await enablePack(config, args[0]!);
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
