// deno-lint-ignore-file no-console
/**
 * The lockstep command line: parse flags, resolve the config, call one
 * `mod.ts` function, render text or `--json`, and exit with the contract's
 * exit codes. Run `deno run <flags> cli.ts help`.
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import {
  check,
  type CheckReport,
  type Config,
  exitCodeFor,
  explainPermission,
  loadConfig,
  LockstepError,
  migrate,
  type MigrateEvent,
  type MigrationStatus,
  newMigration,
  newRelease,
  type PlannedMigration,
  redact,
  stamp,
  status,
  VERSION,
} from "./mod.ts";

const USAGE = `lockstep ${VERSION}: keep an application's code and databases in lockstep

Usage: lockstep <command> [options]   (every command takes --config PATH and --json)

  check [--json]                      may the application run? exit 0, 4 (migrations
                                      pending) or 5 (blocked); reads only
  status [--json]                     migrations per package and database
  migrate [--to ID] [--dry-run] [--yes] [--lock-timeout SECONDS]
  stamp ID|--all [--yes]              mark applied without running (or accept a changed file)
  new PACKAGE NAME [--sql]            write a timestamped migration
  new --release VERSION [PACKAGE]     write a release marker depending on every head

The config is --config PATH, else $LOCKSTEP_CONFIG (read when --allow-env=LOCKSTEP_CONFIG
is granted), else ./lockstep.json. Exit codes: 0 ok, 1 failed, 2 usage or config,
3 bundles pending, 4 migrations pending, 5 blocked, 6 busy.`;

type Options = NonNullable<ParseArgsConfig["options"]>;
const COMMON: Options = {
  config: { type: "string" },
  json: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
};

type Values = Record<string, string | boolean | undefined>;
interface Command {
  options?: Options;
  positionals?: [min: number, max: number];
  run(config: Config, values: Values, args: string[]): Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  check: {
    async run(config, values) {
      const report = await check(config);
      if (values.json) print(report);
      else renderCheck(report);
      return report.exitCode;
    },
  },
  status: {
    async run(config, values) {
      const state = await status(config);
      if (values.json) print({ ok: true, ...state });
      else renderStatus(state);
      return 0;
    },
  },
  migrate: {
    options: {
      to: { type: "string" },
      "dry-run": { type: "boolean", default: false },
      yes: { type: "boolean", short: "y", default: false },
      "lock-timeout": { type: "string" },
    },
    async run(config, values) {
      const json = values.json === true;
      const yes = values.yes === true;
      const result = await migrate(config, {
        ...(typeof values.to === "string" ? { to: values.to } : {}),
        dryRun: values["dry-run"] === true,
        yes,
        lockTimeoutMs: seconds(values["lock-timeout"], 30) * 1000,
        confirm: (pending) => confirmPlan(pending, { yes, json }),
        ...(json ? {} : { onProgress: renderProgress }),
      });
      if (json) print({ ok: true, ...result });
      else if (result.dryRun) renderPlan(result.planned, result.estimateSeconds);
      else if (!result.confirmed) console.log("Nothing was applied.");
      else if (result.planned.length === 0) {
        console.log("Nothing to migrate: every database is up to date.");
      } else console.log(`Applied ${result.applied.length} migration(s).`);
      return result.confirmed ? 0 : 1;
    },
  },
  stamp: {
    options: { all: { type: "boolean", default: false }, yes: { type: "boolean", short: "y" } },
    positionals: [0, 1],
    async run(config, values, args) {
      const target = values.all ? "all" : args[0];
      if (target === undefined || (values.all && args.length > 0)) {
        throw usage("stamp takes one migration id, or --all");
      }
      const json = values.json === true;
      const yes = values.yes === true;
      const result = await stamp(config, target, {
        confirm: (ids) =>
          confirmOrRefuse(`stamp ${ids.length} migration(s) as applied without running them`, ids, {
            yes,
            json,
          }),
      });
      if (json) print({ ok: true, ...result });
      else if (!result.confirmed) console.log("Nothing was stamped.");
      else {
        for (const id of result.stamped) console.log(`stamped ${id}`);
        for (const id of result.accepted) console.log(`accepted the changed file of ${id}`);
        if (result.stamped.length + result.accepted.length === 0) console.log("Nothing to stamp.");
      }
      return result.confirmed ? 0 : 1;
    },
  },
  new: {
    options: { sql: { type: "boolean", default: false }, release: { type: "string" } },
    positionals: [0, 2],
    async run(config, values, args) {
      let path: string;
      if (typeof values.release === "string") {
        if (args.length > 1) throw usage("new --release VERSION takes at most one PACKAGE");
        path = await newRelease(config, values.release, args[0] ? { package: args[0] } : {});
      } else {
        if (args.length !== 2) throw usage("new takes PACKAGE NAME");
        path = await newMigration(config, args[0]!, args[1]!, { sql: values.sql === true });
      }
      if (values.json) print({ ok: true, path });
      else console.log(`Created ${path}`);
      return 0;
    },
  },
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    console.log(USAGE);
    return name === undefined ? 2 : 0;
  }
  if (name === "--version") {
    console.log(VERSION);
    return 0;
  }
  const json = rest.includes("--json");
  try {
    const command = COMMANDS[name];
    if (command === undefined) throw usage(`unknown command "${name}"`);
    const { values, positionals } = parse(rest, command);
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    const [min, max] = command.positionals ?? [0, 0];
    if (positionals.length < min || positionals.length > max) {
      throw usage(`"${name}" takes ${max === 0 ? "no" : `${min} to ${max}`} arguments`);
    }
    const config = await loadConfig(configPath(values.config), readEnv);
    return await command.run(config, values, positionals);
  } catch (error) {
    return fail(error, json);
  }
}

function parse(args: string[], command: Command) {
  try {
    const parsed = parseArgs({
      args,
      options: { ...COMMON, ...command.options },
      allowPositionals: true,
      strict: true,
    });
    return { values: parsed.values as Values, positionals: parsed.positionals };
  } catch (error) {
    throw usage((error as Error).message);
  }
}

function configPath(flag: string | boolean | undefined): string {
  if (typeof flag === "string") return flag;
  return readEnv("LOCKSTEP_CONFIG") ?? "lockstep.json";
}

/** Reads a variable only when its permission is granted: a missing grant means "not set". */
function readEnv(name: string): string | undefined {
  const state = Deno.permissions.querySync({ name: "env", variable: name }).state;
  return state === "granted" ? Deno.env.get(name) : undefined;
}

function usage(message: string): LockstepError {
  return new LockstepError("USAGE", `Cannot run lockstep: ${message}. See "lockstep help".`);
}

function seconds(value: string | boolean | undefined, fallback: number): number {
  if (typeof value !== "string") return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw usage(`--lock-timeout takes seconds, not "${value}"`);
  return n;
}

function confirmPlan(
  pending: readonly PlannedMigration[],
  mode: { yes: boolean; json: boolean },
): Promise<boolean> {
  const ask = () => renderPlan(pending, 0);
  return confirmOrRefuse(
    `apply ${pending.length} migration(s)`,
    pending.map((m) => m.id),
    mode,
    ask,
  );
}

/**
 * `--yes` goes ahead; a terminal is asked; anything else (a pipe, `--json`)
 * is refused, naming `--yes`: unattended runs must say so.
 */
function confirmOrRefuse(
  action: string,
  ids: readonly string[],
  mode: { yes: boolean; json: boolean },
  show: () => void = () => ids.forEach((id) => console.log(`  ${id}`)),
): Promise<boolean> {
  if (mode.yes) return Promise.resolve(true);
  if (mode.json || !Deno.stdin.isTerminal()) {
    throw new LockstepError(
      "CONFIRMATION_REQUIRED",
      `Cannot ${action} without confirmation: there is no terminal to ask on. ` +
        `Pass --yes to go ahead unattended. Nothing was changed.`,
      { data: { ids: [...ids] } },
    );
  }
  show();
  return Promise.resolve(confirm(`${action[0]!.toUpperCase()}${action.slice(1)}?`));
}

function fail(error: unknown, json: boolean): number {
  const explained = explainPermission(error, "run lockstep");
  const code = exitCodeFor(explained);
  if (explained instanceof LockstepError) {
    const message = redact(explained.message);
    if (json) print({ ok: false, error: { code: explained.code, message, data: explained.data } });
    else console.error(`lockstep: ${message} [${explained.code}]`);
  } else {
    const message = redact(
      explained instanceof Error ? explained.stack ?? explained.message : String(explained),
    );
    if (json) print({ ok: false, error: { code: "INTERNAL", message } });
    else console.error(`lockstep: unexpected error: ${message}`);
  }
  return code;
}

function print(value: unknown): void {
  console.log(redact(JSON.stringify(value, null, 2)));
}

function renderCheck(report: CheckReport): void {
  const verdict = report.ok ? "ok: the application may run" : `not ok (exit ${report.exitCode})`;
  console.log(`${report.app} ${report.codeVersion ?? "(no version file)"}: ${verdict}`);
  for (const problem of report.problems) console.log(`  [${problem.severity}] ${problem.message}`);
}

function renderStatus(state: MigrationStatus): void {
  for (const db of state.databases) {
    const note = db.exists
      ? (db.ledger ? `${db.rows} ledger row(s)` : "no ledger yet")
      : "does not exist yet";
    console.log(`database ${db.name} (${db.url}): ${note}`);
  }
  for (const pkg of state.packages) {
    console.log(
      `package ${pkg.name} → ${pkg.database}: ${pkg.applied.length}/${pkg.total} applied` +
        (pkg.version ? `, at ${pkg.version}` : ""),
    );
    for (const id of pkg.pending) console.log(`  pending ${id}`);
  }
  for (const row of state.ahead) {
    console.log(`  AHEAD: ${row.id} (in ${row.database}) is unknown to this code`);
  }
  for (const changed of state.changed) {
    console.log(`  CHANGED: ${changed.id} differs from what was applied`);
  }
}

function renderPlan(planned: readonly PlannedMigration[], estimateSeconds: number): void {
  if (planned.length === 0) {
    console.log("Nothing to migrate: every database is up to date.");
    return;
  }
  console.log(`${planned.length} migration(s) to apply, in this order:`);
  for (const [i, m] of planned.entries()) {
    const flags = m.transaction ? "" : " [no transaction]";
    const estimate = m.estimateSeconds === undefined ? "" : ` ~${m.estimateSeconds}s`;
    console.log(`${i + 1}. ${m.id} → ${m.database}${flags}${estimate}: ${m.info}`);
    if (m.sql) console.log(m.sql.replace(/^/gm, "     "));
  }
  if (estimateSeconds > 0) console.log(`Estimated time: ${estimateSeconds} s`);
}

function renderProgress(event: MigrateEvent): void {
  if (event.type === "done") {
    console.log(`applied ${event.migration.id} (${Math.round(event.durationMs)} ms)`);
  } else if (event.type === "skipped") {
    console.log(`skipped ${event.migration.id}: ${event.reason}`);
  } else if (event.type === "log") console.log(`  ${event.migration.id}: ${event.message}`);
}

if (import.meta.main) Deno.exit(await main(Deno.args));
