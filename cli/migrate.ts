/**
 * `lockstep migrate`: apply pending migrations, after a backup, in
 * maintenance mode; `--dry-run` prints the plan with each SQL body.
 *
 * @module
 */
import { describeDrift, migrate, type PlannedMigration, type SchemaState } from "../mod.ts";
import { command, seconds } from "./command.ts";
import { confirmOrRefuse, print, printJson, renderProgress } from "./output.ts";
import { guarded } from "./policy.ts";

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
      help: "how long to wait for another lockstep process's lock",
    },
    "accept-drift": {
      type: "boolean",
      help: "record the live schema as the new baseline first (also when nothing is pending)",
    },
  },
  positionals: [],
  config: "required",
  async run({ config, values }) {
    const { json, yes } = values;
    const wait = seconds(values["lock-timeout"], "lock-timeout");
    const backup = values["no-backup"] ? undefined : { label: "before-migrate", waitSeconds: wait };
    const result = await guarded(
      config,
      { by: "migrate", backup, json },
      (ready) =>
        migrate(config, {
          ...(values.to === undefined ? {} : { to: values.to }),
          dryRun: values["dry-run"],
          yes,
          lockTimeoutMs: wait * 1000,
          acceptDrift: values["accept-drift"],
          confirm: async (pending, drift) =>
            await confirmPlan(pending, drift, { yes, json }) && await ready(),
          ...(json ? {} : { onProgress: renderProgress }),
        }),
    );
    if (json) printJson({ ok: true, ...result });
    else if (result.dryRun) renderPlan(result.planned, result.estimateSeconds);
    else if (!result.confirmed) print("Nothing was applied.");
    else {
      for (const state of result.acceptedDrift) {
        print(
          `Recorded the live schema of database "${state.database}" as the baseline` +
            (state.changes.length ? ` (accepted: ${describeDrift(state.changes)}).` : "."),
        );
      }
      if (result.planned.length === 0) print("Nothing to migrate: every database is up to date.");
      else print(`Applied ${result.applied.length} migration(s).`);
    }
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

function renderPlan(planned: readonly PlannedMigration[], estimateSeconds: number): void {
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
}
