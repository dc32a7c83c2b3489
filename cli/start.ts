/**
 * `lockstep start`: the startup gate around the application's own command.
 * Optionally waits for the databases to accept connections (`--wait`), then
 * runs the command (stdio inherited, SIGINT, SIGTERM and SIGHUP passed on,
 * its exit code returned) only when `check` says it may run.
 *
 * @module
 */
import type { CheckReport } from "../mod.ts";
import { explainPermission, LockstepError } from "../lib/errors.ts";
import { command, seconds, usage } from "./command.ts";
import { printError } from "./output.ts";

/** How many times `start --install` updates before it lets the gate decide. */
const INSTALL_ROUNDS = 5;

export default command({
  name: "start",
  summary: "run check, then the application if it may run",
  usage: ["start [--install|--ignore] [--wait SECONDS] -- COMMAND [ARGS...]"],
  options: {
    install: { type: "boolean", help: "run update first when bundles or migrations are pending" },
    ignore: {
      type: "boolean",
      help: "start even when bundles or migrations are pending (never when blocked)",
    },
    wait: {
      type: "string",
      value: "SECONDS",
      help: "first wait up to SECONDS for the databases to accept connections (default: 0)",
    },
  },
  positionals: [
    { name: "COMMAND", afterDashes: true, help: "the application's command" },
    { name: "ARGS", optional: true, variadic: true, help: "its arguments" },
  ],
  config: "required",
  async run({ config, values, args }) {
    const { gate } = await import("../lib/gate.ts");
    const { joinFleet } = await import("../lib/fleet/presence.ts");
    const { update } = await import("../lib/update.ts");
    if (values.install && values.ignore) {
      throw usage("start takes --install or --ignore, not both", "start");
    }
    let waitMs = values.wait === undefined ? 0 : seconds(values.wait, "wait") * 1000;
    const explain = (report: CheckReport) => {
      for (const p of report.problems) printError(`lockstep: [${p.severity}] ${p.message}`);
    };
    // gate() makes the decision, as it does for Deno applications. With --install, what it
    // refuses for is updated and it decides again: in a fleet what is pending may change while
    // this host updates (a contract migration held for another host is freed when it is done).
    let report: CheckReport | undefined;
    for (let round = 0; report === undefined; round++) {
      try {
        // The host joins its fleet below, for as long as the command runs.
        report = await gate(config, { ignore: values.ignore, waitMs, register: false });
      } catch (error) {
        if (!(error instanceof LockstepError) || error.code !== "GATE_REFUSED") throw error;
        const refused = error.data.report as CheckReport;
        waitMs = 0;
        const updatable = refused.exitCode !== 5 || installResolves(refused);
        if (values.install && updatable && round < INSTALL_ROUNDS) {
          // Even an update with nothing to do is worth another decision: it found check at 0.
          await update(config, {
            onStep: (s) => printError(`lockstep update: ${s.step}: ${s.detail}`),
          });
          continue;
        }
        explain(refused);
        printError(`lockstep: not starting ${config.app} (check exit ${refused.exitCode}).`);
        return refused.exitCode;
      }
    }
    if (!report.ok) {
      explain(report);
      printError(`lockstep: starting ${config.app} anyway (--ignore).`);
    }
    const presence = await joinFleet(config);
    for (const problem of presence.problems) {
      printError(`lockstep: [warning] not in the fleet's registry: ${problem}`);
    }
    try {
      return await runApplication(args[0]!, args.slice(1));
    } finally {
      await presence.leave();
    }
  },
});

/**
 * True when the only blocking problem is a database ahead of this code while
 * a bundle applies: in a fleet, another host migrated for the release that
 * bundle brings, so installing it is the way out.
 */
function installResolves(report: CheckReport): boolean {
  const blocking = report.problems.filter((p) => p.severity === "blocked");
  return blocking.every((p) => p.code === "DATABASE_AHEAD") &&
    report.bundles.some((b) => b.applies);
}

/**
 * Runs the application's command with lockstep's stdio, passing SIGINT,
 * SIGTERM and SIGHUP on, and returns its exit code (128 + the signal when a
 * signal ended it).
 */
async function runApplication(command: string, args: readonly string[]): Promise<number> {
  const child = spawn(command, args);
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM", "SIGHUP"];
  const forward = signals.map((signal) => {
    const handler = () => {
      try {
        child.kill(signal);
      } catch {
        // It has exited already.
      }
    };
    Deno.addSignalListener(signal, handler);
    return () => Deno.removeSignalListener(signal, handler);
  });
  try {
    const status = await child.status;
    return status.code;
  } finally {
    for (const remove of forward) remove();
  }
}

/** Starts the command; one that is not there or may not be run is `COMMAND_NOT_FOUND`. */
function spawn(command: string, args: readonly string[]): Deno.ChildProcess {
  try {
    return new Deno.Command(command, {
      args: [...args],
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) {
      throw explainPermission(error, `start "${command}"`);
    }
    const missing = error instanceof Deno.errors.NotFound;
    if (!missing && !(error instanceof Deno.errors.PermissionDenied)) throw error;
    const state = missing
      ? `no such program${command.includes("/") ? "" : " on the PATH"}`
      : "it is not an executable program for the user running lockstep";
    throw new LockstepError(
      "COMMAND_NOT_FOUND",
      `Cannot start "${command}": ${state}. Name the application's program after "--" ` +
        `(its full path, or one on the PATH), install it, or make it executable (chmod +x). ` +
        `Nothing was changed.`,
      { cause: error, data: { command } },
    );
  }
}
