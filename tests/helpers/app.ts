/**
 * Test applications: a temp folder with a `lockstep.json`, migration
 * folders and a database (a SQLite file in the folder, or a fresh database
 * on the test PostgreSQL server).
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { dirname, join } from "node:path";
import { type Config, loadConfig } from "../../mod.ts";
import { freshDatabase } from "./postgres.ts";
import { tempDir } from "./temp.ts";

/** Which database a test runs on. */
export type Backend = "sqlite" | "postgres";

/** Both backends, for tests that must hold on each. */
export const BACKENDS: readonly Backend[] = ["sqlite", "postgres"];

/** A database the test can inspect directly. */
export interface TestDb {
  /** The URL as written in lockstep.json. */
  readonly url: string;
  /** Rows of a query, run outside lockstep. */
  query(text: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  /** Names of the tables, sorted. */
  tables(): Promise<string[]>;
}

/** A test application. */
export interface TestApp extends AsyncDisposable {
  /** The app folder (also the config folder and the app root). */
  readonly dir: string;
  /** Path of lockstep.json. */
  readonly configPath: string;
  /** The databases by name. */
  readonly dbs: Record<string, TestDb>;
  /** Writes a file under the app folder. */
  write(path: string, text: string): Promise<void>;
  /** Removes a file under the app folder. */
  remove(path: string): Promise<void>;
  /** Loads the config as it is now. */
  config(): Promise<Config>;
}

/** What to build. */
export interface AppSpec {
  /** Database name → backend (default `{ main: backend }`). */
  databases?: Record<string, Backend>;
  /** Package name → its database and its migration files (name → text). */
  packages: Record<string, { database?: string; files?: Record<string, string> }>;
  /** Extra top-level config keys. */
  extra?: Record<string, unknown>;
  /** Files under the app root (path → text). */
  files?: Record<string, string>;
}

/** Builds a test app; `backend` is the default database's kind. */
export async function makeApp(backend: Backend, spec: AppSpec): Promise<TestApp> {
  const dir = await tempDir();
  const disposers: AsyncDisposable[] = [dir];
  const dispose = async () => {
    for (const d of [...disposers].reverse()) await d[Symbol.asyncDispose]();
  };
  try {
    return await buildApp(backend, spec, { path: dir.path, disposers, dispose });
  } catch (error) {
    // A setup that fails half way leaves nothing behind either.
    await dispose();
    throw error;
  }
}

/** Fills the app folder `owner.path`; what needs disposing goes on `owner.disposers`. */
async function buildApp(
  backend: Backend,
  spec: AppSpec,
  owner: { path: string; disposers: AsyncDisposable[]; dispose: () => Promise<void> },
): Promise<TestApp> {
  const { disposers, dispose } = owner;
  const dir = { path: owner.path };
  const dbs: Record<string, TestDb> = {};
  const databases: Record<string, { url: string }> = {};
  for (const [name, kind] of Object.entries(spec.databases ?? { main: backend })) {
    if (kind === "sqlite") {
      const url = `sqlite:data/${name}.db`;
      dbs[name] = sqliteDb(url, join(dir.path, "data", `${name}.db`));
    } else {
      const db = await freshDatabase();
      disposers.push(db);
      dbs[name] = {
        url: db.url,
        query: db.query,
        tables: async () =>
          (await db.query(
            "select tablename from pg_tables where schemaname = 'public' order by 1",
          )).map((r) => String(r.tablename)),
      };
    }
    databases[name] = { url: dbs[name]!.url };
  }
  const packages: Record<string, { migrations: string; database: string }> = {};
  const write = async (path: string, text: string) => {
    await Deno.mkdir(dirname(join(dir.path, path)), { recursive: true });
    await Deno.writeTextFile(join(dir.path, path), text);
  };
  for (const [name, pkg] of Object.entries(spec.packages)) {
    const folder = `migrations/${name}`;
    await Deno.mkdir(join(dir.path, folder), { recursive: true });
    for (const [file, text] of Object.entries(pkg.files ?? {})) {
      await write(`${folder}/${file}`, text);
    }
    packages[name] = { migrations: folder, database: pkg.database ?? "main" };
  }
  for (const [path, text] of Object.entries(spec.files ?? {})) await write(path, text);
  const configPath = join(dir.path, "lockstep.json");
  await Deno.writeTextFile(
    configPath,
    JSON.stringify({ app: "testapp", databases, packages, ...spec.extra }, null, 2),
  );
  await write("VERSION", "1.0.0\n");
  return {
    dir: dir.path,
    configPath,
    dbs,
    write,
    remove: (path) => Deno.remove(join(dir.path, path)),
    config: () => loadConfig(configPath),
    [Symbol.asyncDispose]: dispose,
  };
}

function sqliteDb(url: string, path: string): TestDb {
  const query = async (text: string, params: unknown[] = []) => {
    try {
      await Deno.lstat(path);
    } catch (error) {
      // A SQLite database that was never created has no tables; do not create it.
      if (error instanceof Deno.errors.NotFound) return [];
      throw error;
    }
    const db = new DatabaseSync(path);
    try {
      return db.prepare(text).all(...(params as never[])).map((row) => ({ ...row }));
    } finally {
      db.close();
    }
  };
  return {
    url,
    query,
    tables: async () =>
      (await query(
        "select name from sqlite_schema where type = 'table' and name not like 'sqlite_%' order by 1",
      ))
        .map((r) => String(r.name)),
  };
}

/** The packages of a scenario under `tests/testdata/<name>/<package>/`, as an {@link AppSpec}. */
export async function fixture(name: string, database = "main"): Promise<AppSpec["packages"]> {
  const root = new URL(`../testdata/${name}/`, import.meta.url);
  const packages: AppSpec["packages"] = {};
  const names = [];
  for await (const entry of Deno.readDir(root)) if (entry.isDirectory) names.push(entry.name);
  for (const pkg of names.sort()) {
    const files: Record<string, string> = {};
    for await (const entry of Deno.readDir(new URL(`${pkg}/`, root))) {
      files[entry.name] = await Deno.readTextFile(new URL(`${pkg}/${entry.name}`, root));
    }
    packages[pkg] = { database, files };
  }
  return packages;
}
