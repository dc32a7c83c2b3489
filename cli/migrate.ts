/**
 * `lockstep migrate`: apply pending migrations, after a backup, in
 * maintenance mode; `--dry-run` prints the plan with each SQL body.
 *
 * @module
 */
import type { HeldContract, PlannedMigration, SchemaState, TransactionModes } from "../mod.ts";
import { describeDrift } from "../lib/migrations/schema.ts";
import { command, seconds, usage } from "./command.ts";
import { confirmOrRefuse, print, printJson, renderProgress } from "./output.ts";
import { stoppable } from "./interrupt.ts";
import { safety } from "./safety.ts";

export default command({
  name: "migrate",
  summary: "apply pending migrations (a backup first, unless --no-backup)",
  options: {
    to: { type: "string", value: "ID", help: "apply only ID and what it depends on" },
    "dry-run": {
      type: "boolean",
      help: "print the plan with each SQL body and the summed estimate; change nothing",
    },
    yes: { type: "boolean", short: "y", help: "go ahead without asking (unattended)" },
    "no-backup": { type: "boolean", help: "skip the backup taken before the first change" },
    "lock-timeout": {
      type: "string",
      value: "SECONDS",
      default: "30",
      help: "how long to wait for a lock: another lockstep process's, and each statement's " +
        "wait for a table another session locked (then exit 6, naming it)",
    },
    "accept-drift": {
      type: "boolean",
      help: "record the live schema as the new baseline first (also when nothing is pending)",
    },
    transaction: {
      type: "string",
      value: "MODE",
      help: "run (default): one transaction per database for the whole run, so a failure " +
        "undoes all of it; per-migration: each migration commits on its own (long runs)",
    },
  },
  positionals: [],
  config: "required",
  async run({ config, values }) {
    const { migrate } = await import("../lib/migrations/migrate.ts");
    const { json, yes } = values;
    const wait = seconds(values["lock-timeout"], "lock-timeout");
    using stop = stoppable();
    const result = await migrate(config, {
      ...(values.to === undefined ? {} : { to: values.to }),
      dryRun: values["dry-run"],
      yes,
      lockTimeoutMs: wait * 1000,
      acceptDrift: values["accept-drift"],
      ...transactionMode(values.transaction),
      confirm: (pending, drift) => confirmPlan(pending, drift, { yes, json }),
      ...safety(values["no-backup"], json),
      signal: stop.signal,
      ...(json ? {} : { onProgress: renderProgress }),
    });
    if (json) printJson({ ok: true, ...result });
    else if (result.dryRun) {
      renderPlan(result.planned, result.estimateSeconds, result.transactions);
      renderHeld(result.held);
    } else if (!result.confirmed) print("Nothing was applied.");
    else {
      for (const state of result.acceptedDrift) {
        print(
          `Recorded the live schema of database "${state.database}" as the baseline` +
            (state.changes.length ? ` (accepted: ${describeDrift(state.changes)}).` : "."),
        );
      }
      if (result.planned.length > 0) print(`Applied ${result.applied.length} migration(s).`);
      else if (result.held.length === 0) {
        print("Nothing to migrate: every database is up to date.");
      }
    }
    if (!json) renderHeld(result.held);
    return result.confirmed ? 0 : 1;
  },
});

function confirmPlan(
  pending: readonly PlannedMigration[],
  drift: readonly SchemaState[],
  mode: { yes: boolean; json: boolean },
): Promise<boolean> {
  const ask = () => {
    for (const state of drift) {
      print(
        `Database "${state.database}": ${
          state.changes.length ? describeDrift(state.changes, 50) : `schema record ${state.record}`
        }`,
      );
    }
    if (pending.length > 0) renderPlan(pending, 0);
  };
  const actions = [
    ...(drift.length
      ? [`record the live schema of ${drift.length} database(s) as the baseline`]
      : []),
    ...(pending.length ? [`apply ${pending.length} migration(s)`] : []),
  ];
  return confirmOrRefuse(actions.join(" and "), pending.map((m) => m.id), mode, ask);
}

/** The contract migrations a fleet holds back, and the hosts each waits for. */
export function renderHeld(held: readonly HeldContract[]): void {
  for (const contract of held) {
    const hosts = contract.waitingFor.map((h) =>
      `${h.host} (${h.codeVersion ?? "unversioned"}${h.state === "running" ? "" : `, ${h.state}`})`
    );
    print(
      `Held: contract migration ${contract.id} waits for host(s) running older code: ` +
        `${hosts.join(", ")}. It runs once they run ${contract.release ?? "this release"}.`,
    );
  }
}

function transactionMode(value: string | undefined): { transaction?: "run" | "per-migration" } {
  if (value === undefined) return {};
  if (value === "run" || value === "per-migration") return { transaction: value };
  throw usage(`--transaction takes run or per-migration, not "${value}"`, "migrate");
}

function renderPlan(
  planned: readonly PlannedMigration[],
  estimateSeconds: number,
  transactions?: TransactionModes,
): void {
  if (planned.length === 0) {
    print("Nothing to migrate: every database is up to date.");
    return;
  }
  print(`${planned.length} migration(s) to apply, in this order:`);
  for (const [i, m] of planned.entries()) {
    const flags = m.transaction ? "" : " [no transaction]";
    const estimate = m.estimateSeconds === undefined ? "" : ` ~${m.estimateSeconds}s`;
    print(`${i + 1}. ${m.id} → ${m.database}${flags}${estimate}: ${m.info}`);
    if (m.sql) print(m.sql.replace(/^/gm, "     "));
  }
  if (estimateSeconds > 0) print(`Estimated time: ${estimateSeconds} s`);
  for (const name of transactions?.whole ?? []) {
    print(`Database ${name}: one transaction for the whole run (a failure undoes all of it).`);
  }
  for (const name of transactions?.perMigration ?? []) {
    print(`Database ${name}: each migration commits on its own.`);
  }
}
