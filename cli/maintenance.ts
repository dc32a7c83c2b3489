/**
 * `lockstep maintenance`: turn maintenance mode on or off
 * (`updates/maintenance.json`, written atomically), or show it.
 *
 * @module
 */
import { command, usage } from "./command.ts";
import { print, printJson } from "./output.ts";

export default command({
  name: "maintenance",
  summary: "turn maintenance mode on or off, or show it",
  options: {
    message: {
      type: "string",
      value: "TEXT",
      help: "with on: what visitors are told while it is on",
    },
  },
  positionals: [{
    name: "on|off|status",
    choices: ["on", "off", "status"],
    help: "what to do",
  }],
  config: "required",
  async run({ config, values, args }) {
    const { maintenanceOff, maintenanceOn, maintenanceStatus } = await import(
      "../lib/maintenance.ts"
    );
    const action = args[0];
    let state;
    if (action === "on") {
      state = await maintenanceOn(config, {
        by: "operator",
        ...(values.message === undefined ? {} : { message: values.message }),
      });
    } else if (action === "off") state = await maintenanceOff(config);
    else if (action === "status") state = await maintenanceStatus(config);
    else throw usage(`maintenance takes on, off or status, not "${action}"`, "maintenance");
    if (values.json) printJson({ ok: true, ...state });
    else if (state.on) {
      print(`Maintenance mode is ON since ${state.since} (by ${state.by}): ${state.message}`);
    } else print("Maintenance mode is off.");
    return 0;
  },
});
