/**
 * Waiting at boot for the databases to accept connections, as dbmate's
 * `wait` does: a host that starts the application and its database server
 * together must not refuse to start only because the server is a few
 * seconds slower. Used by `check`, `gate()` and `lockstep start --wait`.
 *
 * @module
 */
import type { Config } from "./config.ts";
import { isLockstepError, LockstepError, messageOf } from "./errors.ts";
import { redact } from "./redact.ts";
import type { DatabaseConfig } from "./sql/dialect.ts";
import { openDatabase } from "./sql/open.ts";

/** The first pause between attempts; it doubles up to {@link MAX_PAUSE_MS}. */
const FIRST_PAUSE_MS = 100;
const MAX_PAUSE_MS = 2000;

/**
 * Waits until every database a package uses accepts a connection, trying
 * again (with growing pauses) while it is unreachable, for up to `timeoutMs`.
 * A SQLite file that does not exist yet counts as ready; a missing
 * permission or a bad setting is thrown at once, since waiting cannot mend
 * it.
 *
 * @throws {LockstepError} `DATABASE_UNREACHABLE` naming the database, how
 * long it waited and its last reason; `PERMISSION_DENIED`, `CONFIG_INVALID`.
 */
export async function waitForDatabases(config: Config, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const used = new Set(Object.values(config.packages).map((p) => p.database));
  for (const name of [...used].sort()) {
    await waitFor(config.databases[name]!, deadline, timeoutMs);
  }
}

async function waitFor(db: DatabaseConfig, deadline: number, timeoutMs: number): Promise<void> {
  let pause = FIRST_PAUSE_MS;
  let last: LockstepError | undefined;
  for (;;) {
    // Each attempt gets the time left (at least a moment, so the last one is a real try).
    const outcome = await attempt(db, Math.max(deadline - Date.now(), 100));
    if (outcome === "ready") return;
    if (outcome !== "timeout") last = outcome;
    const left = deadline - Date.now();
    if (left <= 0) {
      const reason = last === undefined ? "no answer" : redact(messageOf(last.cause));
      throw new LockstepError(
        "DATABASE_UNREACHABLE",
        `Cannot connect to database "${db.name}" (${redact(db.url)}): it did not accept ` +
          `connections within ${timeoutMs / 1000} s (last: ${reason}). Check that its server ` +
          `is running and reachable from this host, or wait longer (--wait SECONDS).`,
        { cause: last, data: { database: db.name, waitedMs: timeoutMs } },
      );
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(pause, left)));
    pause = Math.min(pause * 2, MAX_PAUSE_MS);
  }
}

/**
 * One connection attempt, given at most `ms`: `ready`, `timeout`, or the
 * `DATABASE_UNREACHABLE` error to try again after. An attempt still running
 * when the time is up closes its connection whenever it opens.
 */
async function attempt(
  db: DatabaseConfig,
  ms: number,
): Promise<"ready" | "timeout" | LockstepError> {
  const opening = openDatabase(db, { readOnly: true });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), ms);
  });
  try {
    const opened = await Promise.race([opening, late]);
    if (opened === "timeout") {
      opening.then((open) => open.close(), () => undefined);
      return "timeout";
    }
    await opened.close();
    return "ready";
  } catch (error) {
    if (isLockstepError(error, "DATABASE_UNREACHABLE")) {
      return error.data.missing === true ? "ready" : error;
    }
    throw error;
  } finally {
    clearTimeout(timer);
  }
}
