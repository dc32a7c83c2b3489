/**
 * Finds each package's migrations on disk: `.sql` files with header comments
 * and `.ts` modules with a default export. A file that matches no rule is an
 * error, never skipped.
 *
 * @module
 */
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { PackageConfig } from "../config.ts";
import { explainPermission, LockstepError, messageOf } from "../errors.ts";
import type { Baseline, Migration, MigrationModule, Phase } from "./types.ts";
import { type CheckCache, fileIdentity, settled, type SqlFacts } from "../check_cache.ts";
import { sha256Hex } from "../sha256.ts";

/** `<14-digit timestamp>_<name>.sql|ts` */
export const MIGRATION_FILE = /^(\d{14})_([A-Za-z0-9_-]+)\.(sql|ts)$/;
const BASELINE_FILE = /^baseline\.(sql|ts)$/;
const UTF8 = new TextDecoder();
const DIRECTIVE = /^--\s*lockstep:([a-z-]+)(?:\s+(.*?))?\s*$/;
const PSQL_RESTRICT = /^\\(un)?restrict\s+\S+\s*$/;
const MODULE_KEYS = new Set([
  "info",
  "dependsOn",
  "transaction",
  "estimate",
  "pre",
  "up",
  "post",
  "down",
  "release",
  "phase",
]);

/** Every package's migrations and baselines. */
export interface Discovered {
  /** All migrations, in package order then file order. */
  readonly migrations: readonly Migration[];
  /** Baselines by package. */
  readonly baselines: Readonly<Record<string, Baseline>>;
}

/** The versioned checksum of a migration file's bytes. */
export async function checksumOf(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  return `v1:${await sha256Hex(bytes)}`;
}

/**
 * Reads the migrations of every package. `.ts` modules are imported. With
 * `missingIsEmpty` (nothing installed yet) a package whose folder does not
 * exist has no migrations; otherwise that is `FILE_NOT_FOUND`. With `hints`,
 * a `.sql` file whose identity is the one recorded is not read: its checksum
 * and directives come from the hint, and its SQL is read only if asked for
 * (what is about to run is read again with {@link readToRun}).
 *
 * @throws {LockstepError} `MIGRATION_FILE_INVALID`, `MIGRATION_INVALID`,
 * `MIGRATION_DUPLICATE`, `FILE_NOT_FOUND` (a missing folder), `PERMISSION_DENIED`.
 */
export async function discover(
  packages: readonly PackageConfig[],
  options: { missingIsEmpty?: boolean; hints?: CheckCache } = {},
): Promise<Discovered> {
  const migrations: Migration[] = [];
  const baselines: Record<string, Baseline> = {};
  for (const pkg of packages) {
    const names = listFolder(pkg, options.missingIsEmpty === true);
    const seen = new Map<string, string>();
    for (const name of names) {
      const path = `${pkg.migrations}/${name}`;
      const baseline = BASELINE_FILE.exec(name);
      if (baseline) {
        baselines[pkg.name] = await readBaseline(pkg.name, path, baseline[1] as "sql" | "ts");
        continue;
      }
      const match = MIGRATION_FILE.exec(name);
      if (!match) {
        throw new LockstepError(
          "MIGRATION_FILE_INVALID",
          `Cannot read migrations of package "${pkg.name}": "${path}" matches no rule. ` +
            `Name migrations <YYYYMMDDHHMMSS>_<name>.sql or .ts (or baseline.sql/.ts), ` +
            `and keep other files elsewhere.`,
          { data: { package: pkg.name, path } },
        );
      }
      const [, timestamp, , kind] = match as unknown as [string, string, string, "sql" | "ts"];
      const stem = name.slice(0, -(kind.length + 1));
      const id = `${pkg.name}/${stem}`;
      const other = seen.get(stem);
      if (other !== undefined) {
        throw new LockstepError(
          "MIGRATION_DUPLICATE",
          `Cannot read migrations of package "${pkg.name}": id "${id}" is given by both ` +
            `"${other}" and "${name}". Keep one.`,
          { data: { id, files: [join(pkg.migrations, other), path] } },
        );
      }
      seen.set(stem, name);
      const base = { id, package: pkg.name, stem, timestamp, path, kind };
      migrations.push(
        kind === "sql" ? await readSql(base, options.hints) : await readModule(base),
      );
    }
  }
  return { migrations, baselines };
}

function listFolder(pkg: PackageConfig, missingIsEmpty: boolean): string[] {
  const names: string[] = [];
  try {
    // Synchronous on purpose: migration files are small, and check runs at every
    // start-up; an async read costs ten times a sync one per file.
    for (const entry of Deno.readDirSync(pkg.migrations)) {
      if (entry.name === ".gitkeep") continue;
      if (!entry.isFile) {
        throw new LockstepError(
          "MIGRATION_FILE_INVALID",
          `Cannot read migrations of package "${pkg.name}": "${
            join(pkg.migrations, entry.name)
          }" is not a regular file.`,
          { data: { package: pkg.name, path: join(pkg.migrations, entry.name) } },
        );
      }
      names.push(entry.name);
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      // Before the first install, the bundles bring the migrations folders.
      if (missingIsEmpty) return [];
      throw new LockstepError(
        "FILE_NOT_FOUND",
        `Cannot read migrations of package "${pkg.name}": folder "${pkg.migrations}" does not exist.`,
        { cause: error, data: { package: pkg.name, path: pkg.migrations } },
      );
    }
    throw explainPermission(error, `read migrations of package "${pkg.name}"`);
  }
  return names.sort();
}

interface FileFacts {
  id: string;
  package: string;
  stem: string;
  timestamp: string;
  path: string;
}

/** Parses the `-- lockstep:` directives and the up/down sections of a `.sql` migration. */
export function parseSql(text: string, where: string): {
  dependsOn: string[];
  transaction: boolean;
  info: string;
  release?: string;
  baseline?: string;
  phase?: Phase;
  up: string;
  down?: string;
} {
  const dependsOn: string[] = [];
  let transaction = true;
  let info = "";
  let release: string | undefined;
  let baseline: string | undefined;
  let phase: Phase | undefined;
  const up: string[] = [];
  const down: string[] = [];
  let section = up;
  for (const line of text.split(/\r?\n/)) {
    // pg_dump (15.14 and later) brackets its output with psql's \restrict and \unrestrict
    // lines: a dumped schema used as a migration or a baseline runs without them.
    if (PSQL_RESTRICT.test(line)) continue;
    const match = DIRECTIVE.exec(line.trim());
    if (!match) {
      section.push(line);
      continue;
    }
    const [, key, value = ""] = match;
    const need = () => {
      if (value === "") throw invalid(where, `"-- lockstep:${key}" needs a value`);
      return value;
    };
    if (key === "depends-on") dependsOn.push(...need().split(/[\s,]+/));
    else if (key === "no-transaction") transaction = false;
    else if (key === "info") info = need();
    else if (key === "release") release = need();
    else if (key === "baseline") baseline = need();
    else if (key === "phase") phase = phaseOf(need(), where, `"-- lockstep:phase ${value}"`);
    else if (key === "down") section = down;
    else {
      throw invalid(
        where,
        `unknown directive "-- lockstep:${key}" ` +
          `(known: depends-on, no-transaction, info, phase, release, down)`,
      );
    }
  }
  const result = {
    dependsOn,
    transaction,
    info,
    up: up.join("\n").trim(),
    ...(release === undefined ? {} : { release }),
    ...(baseline === undefined ? {} : { baseline }),
    ...(phase === "contract" ? { phase } : {}),
  };
  const downText = down.join("\n").trim();
  return section === down ? { ...result, down: downText } : result;
}

async function readSql(base: FileFacts, hints?: CheckCache): Promise<Migration> {
  if (hints === undefined) return sqlMigration(base, Deno.readFileSync(base.path));
  const readAt = Date.now();
  const info = Deno.statSync(base.path);
  const id = fileIdentity(info);
  const hint = hints.file(base.path, id);
  if (hint?.sql !== undefined) return new HintedSql(base, hint.checksum, hint.sql);
  const bytes = Deno.readFileSync(base.path);
  const migration = await sqlMigration(base, bytes);
  // Recorded only when the file could not have changed since without its times moving.
  if (settled(info, readAt) && bytes.length === info.size) {
    hints.rememberFile(base.path, { id, checksum: migration.checksum, sql: factsOf(migration) });
  }
  return migration;
}

async function sqlMigration(base: FileFacts, bytes: Uint8Array<ArrayBuffer>): Promise<Migration> {
  const parsed = parseSql(UTF8.decode(bytes), base.path);
  return {
    ...base,
    kind: "sql",
    checksum: await checksumOf(bytes),
    dependsOn: parsed.dependsOn,
    transaction: parsed.transaction,
    info: parsed.info || base.stem.slice(15).replaceAll("_", " "),
    up: parsed.up,
    ...(parsed.release === undefined ? {} : { release: parsed.release }),
    ...(parsed.phase === undefined ? {} : { phase: parsed.phase }),
    ...(parsed.down === undefined ? {} : { down: parsed.down }),
  };
}

/**
 * A migration about to run, read from its file when it came from a hint
 * (`migrate` applies what it read and records that checksum: both from the
 * same bytes); `undefined` when the file no longer holds the bytes the hint
 * describes (it changed since it was looked at: discover again, without
 * hints).
 */
export async function readToRun(migration: Migration): Promise<Migration | undefined> {
  if (!(migration instanceof HintedSql)) return migration;
  const { id, package: pkg, stem, timestamp, path } = migration;
  const fresh = await sqlMigration(
    { id, package: pkg, stem, timestamp, path },
    Deno.readFileSync(path),
  );
  return fresh.checksum === migration.checksum ? fresh : undefined;
}

function factsOf(migration: Migration): SqlFacts {
  return {
    dependsOn: migration.dependsOn,
    transaction: migration.transaction,
    info: migration.info,
    ...(migration.release === undefined ? {} : { release: migration.release }),
    ...(migration.phase === "contract" ? { phase: "contract" as const } : {}),
    down: migration.kind === "sql" && migration.down !== undefined,
  };
}

/**
 * A `.sql` migration from its hint: everything the plan needs, and its SQL
 * (`up`, `down`) read from the file only when asked for.
 */
class HintedSql implements Migration {
  readonly kind = "sql" as const;
  readonly id: string;
  readonly package: string;
  readonly stem: string;
  readonly timestamp: string;
  readonly path: string;
  readonly dependsOn: readonly string[];
  readonly transaction: boolean;
  readonly info: string;
  readonly release?: string;
  readonly phase?: Phase;
  #parsed: ReturnType<typeof parseSql> | undefined;

  constructor(base: FileFacts, readonly checksum: string, facts: SqlFacts) {
    this.id = base.id;
    this.package = base.package;
    this.stem = base.stem;
    this.timestamp = base.timestamp;
    this.path = base.path;
    this.dependsOn = [...facts.dependsOn];
    this.transaction = facts.transaction;
    this.info = facts.info;
    if (facts.release !== undefined) this.release = facts.release;
    if (facts.phase !== undefined) this.phase = facts.phase;
  }

  #text(): ReturnType<typeof parseSql> {
    return this.#parsed ??= parseSql(UTF8.decode(Deno.readFileSync(this.path)), this.path);
  }

  get up(): string {
    return this.#text().up;
  }

  // Undefined (as on a migration read from its file) when it has no down section.
  get down(): string {
    return this.#text().down as string;
  }
}

async function importModule(path: string): Promise<Record<string, unknown>> {
  try {
    const loaded = await import(pathToFileURL(path).href);
    return loaded.default;
  } catch (error) {
    const explained = explainPermission(error, `load migration "${path}"`);
    if (explained !== error) throw explained;
    throw invalid(path, `it does not load: ${messageOf(error)}`, error);
  }
}

async function readModule(base: FileFacts): Promise<Migration> {
  const bytes = Deno.readFileSync(base.path);
  const module = await importModule(base.path);
  if (typeof module !== "object" || module === null) {
    throw invalid(base.path, "it has no default export object ({ info, up(ctx) })");
  }
  for (const key of Object.keys(module)) {
    if (!MODULE_KEYS.has(key)) {
      throw invalid(base.path, `unknown key "${key}" in its default export`);
    }
  }
  if (typeof module.up !== "function") {
    throw invalid(base.path, 'its default export has no "up(ctx)"');
  }
  if (typeof module.info !== "string") {
    throw invalid(base.path, 'its default export has no "info" text');
  }
  for (const hook of ["estimate", "pre", "post", "down"]) {
    if (module[hook] !== undefined && typeof module[hook] !== "function") {
      throw invalid(base.path, `"${hook}" must be a function`);
    }
  }
  const dependsOn = module.dependsOn ?? [];
  if (!Array.isArray(dependsOn) || !dependsOn.every((d) => typeof d === "string")) {
    throw invalid(base.path, '"dependsOn" must be a list of migration ids');
  }
  if (module.transaction !== undefined && typeof module.transaction !== "boolean") {
    throw invalid(base.path, '"transaction" must be true or false');
  }
  const phase = module.phase === undefined
    ? "expand"
    : phaseOf(module.phase, base.path, `"phase": ${JSON.stringify(module.phase)}`);
  return {
    ...base,
    kind: "ts",
    checksum: await checksumOf(bytes),
    dependsOn,
    transaction: module.transaction !== false,
    info: module.info,
    module: module as unknown as MigrationModule,
    ...(typeof module.release === "string" ? { release: module.release } : {}),
    ...(phase === "contract" ? { phase } : {}),
  };
}

function phaseOf(value: unknown, path: string, written: string): Phase {
  if (value === "expand" || value === "contract") return value;
  throw invalid(path, `${written} is not a phase (use "expand", the default, or "contract")`);
}

async function readBaseline(pkg: string, path: string, kind: "sql" | "ts"): Promise<Baseline> {
  const bytes = Deno.readFileSync(path);
  const checksum = await checksumOf(bytes);
  const qualify = (covers: string) => covers.includes("/") ? covers : `${pkg}/${covers}`;
  if (kind === "sql") {
    const parsed = parseSql(new TextDecoder().decode(bytes), path);
    if (parsed.baseline === undefined) {
      throw invalid(path, 'a baseline needs "-- lockstep:baseline <last migration id it covers>"');
    }
    return { package: pkg, path, covers: qualify(parsed.baseline), up: parsed.up, checksum };
  }
  const module = await importModule(path);
  if (typeof module?.up !== "function" || typeof module.baseline !== "string") {
    throw invalid(path, 'a baseline module exports { info, baseline: "<migration id>", up(ctx) }');
  }
  return {
    package: pkg,
    path,
    covers: qualify(module.baseline),
    module: module as unknown as Pick<MigrationModule, "up" | "info">,
    checksum,
  };
}

function invalid(path: string, what: string, cause?: unknown): LockstepError {
  return new LockstepError("MIGRATION_INVALID", `Cannot use migration "${path}": ${what}.`, {
    cause,
    data: { path },
  });
}
