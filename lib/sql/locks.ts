/**
 * Bounded lock waits, the dialect-neutral part: who holds the locks a
 * statement of lockstep's waited for ({@link LockHolder}, read by the dialect
 * after its lock timeout fired), and how a message names them. PostgreSQL
 * reads them from `pg_locks` and `pg_stat_activity`; SQLite cannot tell
 * (another connection is writing).
 *
 * @module
 */

/** A session that held a lock when one of lockstep's statements gave up waiting. */
export interface LockHolder {
  /** The server process id (`pg_stat_activity.pid`). */
  readonly pid: number;
  /** Its `application_name`, when it set one. */
  readonly application: string | null;
  /** The role it runs as. */
  readonly user: string | null;
  /** `active`, `idle in transaction`, … */
  readonly state: string | null;
  /** When its transaction began (ISO 8601), when it is in one. */
  readonly transactionStart: string | null;
  /** When its current or last query began (ISO 8601). */
  readonly queryStart: string | null;
  /** Its current or last query, shortened. */
  readonly query: string | null;
  /** The strongest lock it holds on an application table, and on which. */
  readonly lock: { readonly mode: string; readonly relation: string };
}

/** One line per holder, for messages: `pid 4242 (application "shop", …)`. */
export function describeHolders(holders: readonly LockHolder[]): string {
  if (holders.length === 0) {
    return "the session that held it has ended since (no lock on an application table is held now)";
  }
  return holders.map((h) => {
    const facts = [
      h.application ? `application "${h.application}"` : "no application name",
      ...(h.user ? [`user ${h.user}`] : []),
      ...(h.state ? [h.state] : []),
      ...(h.transactionStart ? [`in a transaction since ${h.transactionStart}`] : []),
      ...(h.queryStart ? [`query started ${h.queryStart}`] : []),
    ];
    const query = h.query ? `; its query: ${JSON.stringify(h.query)}` : "";
    return `session pid ${h.pid} (${
      facts.join(", ")
    }) holds ${h.lock.mode} on ${h.lock.relation}${query}`;
  }).join("; ");
}
