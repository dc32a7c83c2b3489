/**
 * `lockstep fleet forget HOST`: removes a host that is gone for good from
 * every shared database's registry (refused while it is counted as running).
 *
 * @module
 */
import { command } from "./command.ts";
import { print, printJson } from "./output.ts";

export default command({
  name: "fleet forget",
  summary: "remove a host that is gone from the fleet's registry",
  options: {},
  positionals: [{ name: "HOST", help: "the host's id, as `lockstep fleet` lists it" }],
  config: "required",
  async run({ config, values, args }) {
    const { forgetFleetHost } = await import("../lib/fleet/status.ts");
    const result = await forgetFleetHost(config, args[0]!);
    if (values.json) printJson({ ok: true, ...result });
    else print(`Forgot host ${result.host} (database(s): ${result.databases.join(", ")}).`);
    return 0;
  },
});
