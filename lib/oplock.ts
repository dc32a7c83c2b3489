/**
 * The operation lock: one lockstep process at a time installs, recovers,
 * backs up or restores. An OS file lock on `updates/.lockstep/lock`, so a
 * killed process never leaves it held.
 *
 * @module
 */
import { join } from "node:path";
import type { Config } from "./config.ts";
import { LockstepError } from "./errors.ts";

/** lockstep's private work folder inside the updates folder. */
export function workFolder(config: Pick<Config, "updates">): string {
  return join(config.updates, ".lockstep");
}

let held = 0;

/**
 * Takes the operation lock, waiting up to `waitMs` (default: not at all). Re-entrant within one process:
 * `update` holds it while its own backup, install and restore take it again.
 *
 * @throws {LockstepError} `LOCK_HELD` when another lockstep process holds it.
 */
export async function takeOperationLock(
  config: Pick<Config, "updates">,
  action: string,
  waitMs = 0,
): Promise<Disposable> {
  if (held > 0) {
    held++;
    return { [Symbol.dispose]: () => void held-- };
  }
  const folder = workFolder(config);
  await Deno.mkdir(folder, { recursive: true });
  const file = await Deno.open(join(folder, "lock"), { read: true, write: true, create: true });
  const deadline = performance.now() + waitMs;
  let locked = await file.tryLock(true);
  while (!locked && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 100));
    locked = await file.tryLock(true);
  }
  if (!locked) {
    file.close();
    throw new LockstepError(
      "LOCK_HELD",
      `Cannot ${action}: another lockstep process is installing, recovering, backing up or restoring. ` +
        `Wait for it to finish. Nothing was changed.`,
      { data: { lock: join(folder, "lock") } },
    );
  }
  held = 1;
  return {
    [Symbol.dispose]() {
      if (--held === 0) file.close();
    },
  };
}
