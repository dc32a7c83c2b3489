/**
 * SIGINT and SIGTERM while a command changes things: the first asks the
 * library to stop at its next safe point (it then undoes what the run
 * changed and says where it stopped); a second one exits at once, leaving
 * the journal for `lockstep recover`.
 *
 * @module
 */
import { printError } from "./output.ts";

const SIGNALS: readonly Deno.Signal[] = ["SIGINT", "SIGTERM"];

/** An abort signal the first SIGINT or SIGTERM aborts; dispose to stop listening. */
export function stoppable(): { readonly signal: AbortSignal } & Disposable {
  const controller = new AbortController();
  const listeners = SIGNALS.map((name) => {
    const listener = () => {
      if (controller.signal.aborted) {
        printError(`lockstep: ${name} again: exiting now; run "lockstep recover" next.`);
        Deno.exit(130);
      }
      printError(
        `lockstep: ${name} received: stopping at the next safe point and undoing what this run ` +
          `changed (${name} again exits at once).`,
      );
      controller.abort(name);
    };
    Deno.addSignalListener(name, listener);
    return () => Deno.removeSignalListener(name, listener);
  });
  return {
    signal: controller.signal,
    [Symbol.dispose]() {
      for (const remove of listeners) remove();
    },
  };
}
