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
  backup,
  type BackupManifest,
  type BackupProgress,
  type BundleReport,
  check,
  type CheckReport,
  type Config,
  createBundle,
  describeDrift,
  exitCodeFor,
  explainPermission,
  gate,
  inspect,
  install,
  type InstallResult,
  keygen,
  listBackups,
  loadConfig,
  LockstepError,
  maintenanceOff,
  maintenanceOn,
  maintenanceStatus,
  migrate,
  type MigrateEvent,
  type MigrationStatus,
  newMigration,
  newRelease,
  type PlannedMigration,
  pruneBackups,
  recover,
  redact,
  restore,
  type SafetyOptions,
  type SchemaState,
  stamp,
  status,
  update,
  type UpdateStepResult,
  verifyBackup,
  VERSION,
} from "./mod.ts";

const USAGE = `lockstep ${VERSION}: keep an application's code and databases in lockstep

Usage: lockstep <command> [options]   (every command takes --config PATH and --json)

  check [--json]                      may the application run? exit 0, 3 (bundles pending),
                                      4 (migrations pending) or 5 (blocked); reads only
  status [--json]                     migrations per package and database
  migrate [--to ID] [--dry-run] [--yes] [--lock-timeout SECONDS] [--no-backup] [--accept-drift]
                                      apply pending migrations (a backup first, unless --no-backup);
                                      --accept-drift records the live schema as the new baseline
  stamp ID|--all [--yes]              mark applied without running (or accept a changed file)
  new PACKAGE NAME [--sql]            write a timestamped migration
  new --release VERSION [PACKAGE]     write a release marker depending on every head
  backup [--files-only|--db-only] [--label TEXT]
                                      back up the app root and every database
  backups                             list backups (time, label, version, size, valid)
  backup verify ID                    re-hash every artifact and open every archive
  backup prune                        keep the newest backup.keep valid backups
  restore ID [--yes]                  put files and databases back as the backup holds them
  install [BUNDLE] [--yes] [--dry-run] [--no-backup]
                                      install pending update bundles in version order
  recover                             roll an interrupted install or restore back
  update [--yes]                      check, back up, maintenance on, install, migrate,
                                      maintenance off; restores the backup on failure
  start [--install|--ignore] -- COMMAND [ARGS...]
                                      run check, then the application if it may run
  maintenance on|off|status [--message TEXT]
  keygen --out KEYFILE [--id ID]      make an Ed25519 signing key; prints its trust entry
  bundle create --from DIR [--base DIR] --version V [--upgrades-from RANGE]
                [--notes FILE] [--security] [--sign KEYFILE] --out FILE
  bundle inspect FILE                 what a bundle holds, and whether this host accepts it

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
interface CommandShape {
  options?: Options;
  positionals?: [min: number, max: number];
}

/**
 * A command: one that needs the config gets it; `optional` runs without one
 * when there is none (and no --config was given); `none` never reads one.
 */
type Command =
  | CommandShape & {
    config?: undefined;
    run(config: Config, values: Values, args: string[]): Promise<number>;
  }
  | CommandShape & {
    config: "optional" | "none";
    run(config: Config | undefined, values: Values, args: string[]): Promise<number>;
  };

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
      "no-backup": { type: "boolean", default: false },
      "accept-drift": { type: "boolean", default: false },
      transaction: { type: "string" },
    },
    async run(config, values) {
      const json = values.json === true;
      const yes = values.yes === true;
      const result = await migrate(config, {
        ...(typeof values.to === "string" ? { to: values.to } : {}),
        dryRun: values["dry-run"] === true,
        yes,
        lockTimeoutMs: seconds(values["lock-timeout"], 30) * 1000,
        acceptDrift: values["accept-drift"] === true,
        ...transactionMode(values.transaction),
        confirm: (pending, drift) => confirmPlan(pending, drift, { yes, json }),
        ...safety(values),
        ...(json ? {} : { onProgress: renderProgress }),
      });
      if (json) print({ ok: true, ...result });
      else if (result.dryRun) {
        renderPlan(result.planned, result.estimateSeconds, result.transactions);
      } else if (!result.confirmed) console.log("Nothing was applied.");
      else {
        for (const state of result.acceptedDrift) {
          console.log(
            `Recorded the live schema of database "${state.database}" as the baseline` +
              (state.changes.length ? ` (accepted: ${describeDrift(state.changes)}).` : "."),
          );
        }
        if (result.planned.length === 0) {
          console.log("Nothing to migrate: every database is up to date.");
        } else console.log(`Applied ${result.applied.length} migration(s).`);
      }
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
  keygen: {
    options: { out: { type: "string" }, id: { type: "string" } },
    config: "none",
    async run(_config, values) {
      if (typeof values.out !== "string") throw usage("keygen needs --out KEYFILE");
      const result = await keygen(
        values.out,
        typeof values.id === "string" ? { keyId: values.id } : {},
      );
      if (values.json) print({ ok: true, ...result });
      else {
        console.log(`Wrote private key ${result.path} (owner-only; keep it off the servers).`);
        console.log(
          `Add this to trust.keys in lockstep.json:\n  ${JSON.stringify(result.trustEntry)}`,
        );
      }
      return 0;
    },
  },
  "bundle create": {
    options: {
      from: { type: "string" },
      base: { type: "string" },
      version: { type: "string" },
      "upgrades-from": { type: "string" },
      notes: { type: "string" },
      security: { type: "boolean", default: false },
      sign: { type: "string" },
      out: { type: "string" },
      app: { type: "string" },
      database: { type: "string", multiple: true },
      "requires-deno": { type: "string" },
    },
    config: "optional",
    async run(config, values) {
      for (const flag of ["from", "version", "out"]) {
        if (typeof values[flag] !== "string") throw usage(`bundle create needs --${flag}`);
      }
      const app = typeof values.app === "string" ? values.app : config?.app;
      if (app === undefined) {
        throw usage("bundle create needs --app NAME when there is no lockstep.json");
      }
      const str = (key: string) =>
        typeof values[key] === "string" ? values[key] as string : undefined;
      const notesFile = str("notes");
      const result = await createBundle({
        from: str("from")!,
        version: str("version")!,
        out: str("out")!,
        app,
        security: values.security === true,
        ...(str("base") ? { base: str("base")! } : {}),
        ...(str("upgrades-from") ? { upgradesFrom: str("upgrades-from")! } : {}),
        ...(notesFile ? { notes: await Deno.readTextFile(notesFile) } : {}),
        ...(str("sign") ? { signWith: str("sign")! } : {}),
        ...(Array.isArray(values.database) ? { database: values.database as string[] } : {}),
        ...(str("requires-deno") ? { requires: { deno: str("requires-deno")! } } : {}),
      });
      if (values.json) print({ ok: true, ...result });
      else {
        console.log(
          `Wrote ${result.path}: ${app} ${result.version}, ${result.files} file(s), ${result.bytes} bytes, ` +
            `${result.remove.length} removal(s), ${result.signed ? "signed" : "unsigned"}.`,
        );
      }
      return 0;
    },
  },
  "bundle inspect": {
    positionals: [1, 1],
    config: "optional",
    async run(config, values, args) {
      const report = await inspect(args[0]!, config);
      if (values.json) print({ ok: true, ...report });
      else renderBundle(report);
      return report.problem ? 1 : 0;
    },
  },
  install: {
    options: {
      yes: { type: "boolean", short: "y" },
      "dry-run": { type: "boolean" },
      "no-backup": { type: "boolean" },
    },
    positionals: [0, 1],
    async run(config, values, args) {
      const json = values.json === true;
      const yes = values.yes === true;
      const result = await install(config, {
        ...(args[0] === undefined ? {} : { bundle: args[0] }),
        dryRun: values["dry-run"] === true,
        confirm: (versions) =>
          confirmOrRefuse(`install ${versions.join(", ")}`, versions, { yes, json }),
        ...safety(values),
      });
      if (json) print({ ok: result.refused.length === 0 && result.confirmed, ...result });
      else if (!result.confirmed) console.log("Nothing was installed.");
      else renderInstall(result);
      return result.refused.length === 0 && result.confirmed ? 0 : 1;
    },
  },
  backup: {
    options: {
      "files-only": { type: "boolean", default: false },
      "db-only": { type: "boolean", default: false },
      label: { type: "string" },
    },
    async run(config, values) {
      const json = values.json === true;
      const result = await backup(config, {
        filesOnly: values["files-only"] === true,
        dbOnly: values["db-only"] === true,
        ...(typeof values.label === "string" ? { label: values.label } : {}),
        ...progress(json),
      });
      if (json) print({ ok: true, ...result });
      else renderBackup(result);
      return 0;
    },
  },
  backups: {
    async run(config, values) {
      const list = await listBackups(config);
      if (values.json) {
        print({ ok: true, backups: list.map(({ manifest: _, ...info }) => info) });
        return 0;
      }
      if (list.length === 0) console.log(`No backups in ${config.backups}.`);
      for (const b of list) {
        console.log(
          `${b.id}  ${b.created ?? "?"}  ${b.codeVersion ?? "-"}  ${megabytes(b.size)}  ${
            b.valid ? "valid" : `INVALID: ${b.problem}`
          }`,
        );
      }
      return 0;
    },
  },
  "backup verify": {
    positionals: [1, 1],
    async run(config, values, args) {
      const json = values.json === true;
      const result = await verifyBackup(
        config,
        args[0]!,
        progress(json),
      );
      const { manifest: _, ...rest } = result;
      if (json) print(rest);
      else if (result.ok) {
        console.log(`Backup ${result.id} is intact: every artifact matches and opens.`);
      } else {
        console.log(`Backup ${result.id} FAILS verification:`);
        for (const problem of result.problems) console.log(`  ${problem}`);
      }
      return result.ok ? 0 : 1;
    },
  },
  "backup prune": {
    async run(config, values) {
      const result = await pruneBackups(config);
      if (values.json) print({ ok: true, ...result });
      else {
        for (const id of result.removed) console.log(`removed ${id}`);
        console.log(`Kept ${result.kept.length} backup(s) (backup.keep is ${config.backup.keep}).`);
      }
      return 0;
    },
  },
  restore: {
    options: { yes: { type: "boolean", short: "y" }, "no-backup": { type: "boolean" } },
    positionals: [1, 1],
    async run(config, values, args) {
      const json = values.json === true;
      const yes = values.yes === true;
      const result = await restore(config, args[0]!, {
        confirm: (plan) =>
          confirmOrRefuse(
            `restore backup ${plan.id} of ${plan.created} (code ${
              plan.currentVersion ?? "(none)"
            } → ${plan.codeVersion ?? "(none)"}; ${plan.writes.length} file(s) written, ` +
              `${plan.removes.length} removed; databases replaced: ${
                plan.databases.join(", ") || "none"
              }; whatever was written to them since the backup is discarded)`,
            [...plan.writes, ...plan.removes.map((p) => `remove ${p}`)],
            { yes, json },
            () => {},
          ),
        ...safety(values),
        ...progress(json),
      });
      if (json) print({ ok: result.confirmed, ...result });
      else if (!result.confirmed) console.log("Nothing was restored.");
      else {
        console.log(
          `Restored backup ${result.id} (code ${result.codeVersion ?? "without a version"}): ` +
            `${result.writes.length} file(s) written, ${result.removes.length} removed, ` +
            `${result.unchanged} unchanged; databases: ${result.databases.join(", ") || "none"}.`,
        );
      }
      return result.confirmed ? 0 : 1;
    },
  },
  maintenance: {
    options: { message: { type: "string" } },
    positionals: [1, 1],
    async run(config, values, args) {
      const action = args[0];
      let state;
      if (action === "on") {
        state = await maintenanceOn(config, {
          by: "operator",
          ...(typeof values.message === "string" ? { message: values.message } : {}),
        });
      } else if (action === "off") state = await maintenanceOff(config);
      else if (action === "status") state = await maintenanceStatus(config);
      else throw usage(`maintenance takes on, off or status, not "${action}"`);
      if (values.json) print({ ok: true, ...state });
      else if (state.on) {
        console.log(
          `Maintenance mode is ON since ${state.since} (by ${state.by}): ${state.message}`,
        );
      } else console.log("Maintenance mode is off.");
      return 0;
    },
  },
  update: {
    options: {
      yes: { type: "boolean", short: "y" },
      "lock-timeout": { type: "string" },
    },
    async run(config, values) {
      const json = values.json === true;
      const yes = values.yes === true;
      const result = await update(config, {
        confirm: (report) =>
          confirmOrRefuse(
            "update: back up, install and migrate",
            report.problems.filter((p) => p.severity !== "warning").map((p) => p.message),
            { yes, json },
          ),
        lockTimeoutMs: seconds(values["lock-timeout"], 30) * 1000,
        ...(json ? {} : {
          onStep: (s: UpdateStepResult) =>
            console.log(`${s.step}: ${s.detail} (${(s.durationMs / 1000).toFixed(1)} s)`),
          onMigrate: renderProgress,
        }),
      });
      if (json) print({ ok: result.confirmed, ...result });
      else if (!result.confirmed) console.log("Nothing was changed.");
      else if (!result.changed) console.log("Nothing to update: code and databases are current.");
      else {
        console.log(
          `Updated ${config.app} ${result.from ?? "(none)"} → ${result.to ?? "(none)"}: ` +
            `${result.installed.length} bundle(s), ${result.applied.length} migration(s). ` +
            `Backup taken first: ${result.backup}.`,
        );
      }
      return result.confirmed ? 0 : 1;
    },
  },
  start: {
    options: {
      install: { type: "boolean", default: false },
      ignore: { type: "boolean", default: false },
    },
    positionals: [1, Infinity],
    async run(config, values, args) {
      if (values.install && values.ignore) {
        throw usage("start takes --install or --ignore, not both");
      }
      if (values.install) {
        const first = await check(config);
        if (!first.ok && first.exitCode !== 5) {
          await update(config, {
            onStep: (s) => console.error(`lockstep update: ${s.step}: ${s.detail}`),
          });
        }
      }
      const explain = (report: CheckReport) => {
        for (const p of report.problems) console.error(`lockstep: [${p.severity}] ${p.message}`);
      };
      // gate() makes the decision, as it does for Deno applications.
      let report: CheckReport;
      try {
        report = await gate(config, { ignore: values.ignore === true });
      } catch (error) {
        if (!(error instanceof LockstepError) || error.code !== "GATE_REFUSED") throw error;
        report = error.data.report as CheckReport;
        explain(report);
        console.error(`lockstep: not starting ${config.app} (check exit ${report.exitCode}).`);
        return report.exitCode;
      }
      if (!report.ok) {
        explain(report);
        console.error(`lockstep: starting ${config.app} anyway (--ignore).`);
      }
      return await runApplication(args[0]!, args.slice(1));
    },
  },
  recover: {
    async run(config, values) {
      const result = await recover(config);
      if (values.json) print({ ok: true, ...result });
      else if (result.outcome === "none") {
        console.log("Nothing to recover: no interrupted install or restore.");
      } else if (result.outcome === "rolled-back") {
        console.log(
          `Rolled back ${result.label ?? "an interrupted install"}: the previous files are back.`,
        );
      } else console.log(`Finished ${result.label}: it had committed before it was interrupted.`);
      return 0;
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
    const full = name === "bundle"
      ? `bundle ${rest.shift() ?? ""}`
      : name === "backup" && (rest[0] === "verify" || rest[0] === "prune")
      ? `backup ${rest.shift()}`
      : name;
    const command = COMMANDS[full];
    if (command === undefined) throw usage(`unknown command "${full.trim()}"`);
    const { values, positionals } = parse(rest, command);
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    const [min, max] = command.positionals ?? [0, 0];
    if (positionals.length < min || positionals.length > max) {
      throw usage(`"${full}" takes ${max === 0 ? "no" : `${min} to ${max}`} arguments`);
    }
    if (command.config === undefined) {
      return await command.run(
        await loadConfig(configPath(values.config), readEnv),
        values,
        positionals,
      );
    }
    const config = command.config === "none"
      ? undefined
      : await loadConfig(configPath(values.config), readEnv)
        .catch((error) => {
          const optional = values.config === undefined;
          if (
            optional && error instanceof LockstepError && error.code === "CONFIG_NOT_FOUND"
          ) return undefined;
          throw error;
        });
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

function transactionMode(
  value: string | boolean | undefined,
): { transaction?: "run" | "per-migration" } {
  if (value === undefined) return {};
  if (value === "run" || value === "per-migration") return { transaction: value };
  throw usage(`--transaction takes run or per-migration, not "${value}"`);
}

function seconds(value: string | boolean | undefined, fallback: number): number {
  if (typeof value !== "string") return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw usage(`--lock-timeout takes seconds, not "${value}"`);
  return n;
}

/**
 * The change policy's switches from the flags: a backup first unless
 * `--no-backup` (said on stderr once taken), progress on a terminal.
 */
function safety(values: Values): SafetyOptions {
  const json = values.json === true;
  if (values["no-backup"] === true) return { backup: false };
  return {
    backup: progress(json),
    ...(json ? {} : {
      onBackup: (made: { id: string; path: string }) =>
        console.error(`Backed up to ${made.path} (restore with "lockstep restore ${made.id}").`),
    }),
  };
}

/**
 * Progress on stderr when it is a terminal (bytes, files and rate, at most
 * ten updates a second); nothing in pipes.
 */
function progress(
  json: boolean,
): { onProgress?: (event: BackupProgress | { phase: "restore" }) => void } {
  if (json || !Deno.stderr.isTerminal()) return {};
  const started = performance.now();
  let last = 0;
  const encoder = new TextEncoder();
  const onProgress = (event: BackupProgress | { phase: "restore" }) => {
    if (event.phase === "restore") return;
    const now = performance.now();
    let line: string;
    if (event.phase === "files") {
      if (now - last < 100 && event.files !== event.totalFiles) return;
      const rate = event.bytes / 1e6 / Math.max(0.001, (now - started) / 1000);
      line = `files ${event.files}/${event.totalFiles}, ${megabytes(event.bytes)} of ${
        megabytes(event.totalBytes)
      }, ${rate.toFixed(1)} MB/s`;
    } else if (event.phase === "database") line = `database ${event.database}`;
    else line = `verifying ${event.artifact}`;
    last = now;
    Deno.stderr.writeSync(encoder.encode(`\r\x1b[K${line}`));
    if (event.phase !== "files" || event.files === event.totalFiles) {
      Deno.stderr.writeSync(encoder.encode("\n"));
    }
  };
  return { onProgress };
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

function renderBackup(result: BackupManifest & { path: string }): void {
  console.log(`Backed up to ${result.path} in ${(result.durationMs / 1000).toFixed(1)} s:`);
  if (result.files) {
    console.log(
      `  files.zip: ${result.files.count} file(s), ${megabytes(result.files.bytes)} → ${
        megabytes(result.files.size)
      }`,
    );
    for (const path of result.files.skipped) console.log(`  skipped ${path} (not a regular file)`);
  }
  for (const db of result.databases) {
    console.log(`  ${db.artifact}: database ${db.name} (${db.format}), ${megabytes(db.size)}`);
    for (const what of db.skipped) {
      console.log(
        `    not in the built-in dump: ${what} (grant --allow-run=pg_dump for a full dump)`,
      );
    }
  }
}

/**
 * Runs the application's command with lockstep's stdio, passing SIGINT,
 * SIGTERM and SIGHUP on, and returns its exit code (128 + the signal when a
 * signal ended it).
 */
async function runApplication(command: string, args: string[]): Promise<number> {
  const child = new Deno.Command(command, {
    args,
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
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

function confirmPlan(
  pending: readonly PlannedMigration[],
  drift: readonly SchemaState[],
  mode: { yes: boolean; json: boolean },
): Promise<boolean> {
  const ask = () => {
    for (const state of drift) {
      console.log(
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

function renderBundle(report: BundleReport): void {
  const m = report.manifest;
  if (m) {
    console.log(`${report.file}: ${m.app} ${m.version}${m.security ? " [security]" : ""}`);
    if (m.upgradesFrom) console.log(`  upgrades from ${m.upgradesFrom}`);
    console.log(
      `  ${
        Object.keys(m.files).length
      } file(s), ${m.remove.length} removal(s); signature: ${report.signature}`,
    );
    if (m.notes) console.log(m.notes.replace(/^/gm, "  | "));
    for (const line of m.database) console.log(`  database: ${line}`);
  }
  if (report.problem) {
    console.log(`  NOT USABLE [${report.problem.code}]: ${report.problem.message}`);
  }
}

function renderInstall(result: InstallResult): void {
  for (const b of result.installed) {
    const verb = result.dryRun ? "would install" : "installed";
    console.log(
      `${verb} ${b.file}: ${
        b.from ?? "(none)"
      } → ${b.version}, ${b.writes.length} file(s) written, ${b.removes.length} removed`,
    );
    if (result.dryRun) { for (const path of b.writes) console.log(`  write ${path}`); }
    if (result.dryRun) { for (const path of b.removes) console.log(`  remove ${path}`); }
  }
  for (const r of result.refused) console.log(`refused ${r.file} [${r.code}]: ${r.message}`);
  if (result.installed.length === 0 && result.refused.length === 0) {
    console.log("Nothing to install: no pending bundles.");
  }
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

function renderPlan(
  planned: readonly PlannedMigration[],
  estimateSeconds: number,
  transactions?: { whole: readonly string[]; perMigration: readonly string[] },
): void {
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
  for (const name of transactions?.whole ?? []) {
    console.log(
      `Database ${name}: one transaction for the whole run (a failure undoes all of it).`,
    );
  }
  for (const name of transactions?.perMigration ?? []) {
    console.log(`Database ${name}: each migration commits on its own.`);
  }
}

function renderProgress(event: MigrateEvent): void {
  if (event.type === "done") {
    console.log(`applied ${event.migration.id} (${Math.round(event.durationMs)} ms)`);
  } else if (event.type === "skipped") {
    console.log(`skipped ${event.migration.id}: ${event.reason}`);
  } else if (event.type === "log") console.log(`  ${event.migration.id}: ${event.message}`);
}

if (import.meta.main) Deno.exit(await main(Deno.args));
