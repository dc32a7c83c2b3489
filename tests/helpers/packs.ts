/**
 * Packs for the tests: an app whose `core` package has a release marker
 * packs can depend on, pack release folders (a `lockstep-package.json`,
 * migrations and code), their bundles in `pending/` made with `bundle
 * create`'s own code, and the CLI with the README's flags.
 *
 * @module
 */
import { join } from "node:path";
import { createBundle } from "../../mod.ts";
import { type Backend, makeApp, type TestApp } from "./app.ts";
import { type CliResult, documentedFlags, runCli } from "./cli.ts";
import { tempDir } from "./temp.ts";

/** The app's own migrations: users, then the release marker of 1.0.0. */
export const CORE = {
  "20260101000000_users.sql": "create table users (id integer primary key, name text);\n",
  "20260102000000_release_1_0_0.sql":
    "-- lockstep:release 1.0.0\n-- lockstep:depends-on core/20260101000000_users\n",
};

/** The `reviews` pack's migrations at 0.1.0 (its own table, after the core release marker). */
export const REVIEWS_010 = {
  "20260301000000_reviews.sql": "-- lockstep:depends-on core/20260102000000_release_1_0_0\n" +
    "create table reviews (id integer primary key, user_id integer, body text);\n" +
    "-- lockstep:down\ndrop table reviews;\n",
};

/** … and at 0.2.0: stars. */
export const REVIEWS_020 = {
  ...REVIEWS_010,
  "20260401000000_stars.sql": "alter table reviews add column stars integer;\n" +
    "-- lockstep:down\nalter table reviews drop column stars;\n",
};

/** A pack release: its declaration's fields and its files. */
export interface PackRelease {
  readonly name: string;
  readonly version: string;
  readonly source?: string;
  readonly requires?: Record<string, string>;
  readonly database?: string;
  /** Migration files (name → text) under `migrations/`. */
  readonly migrations?: Record<string, string>;
  /** Other files (path → text); default a `mod.ts` naming the version. */
  readonly files?: Record<string, string>;
  /** Replaces the declaration's text. */
  readonly declaration?: string;
}

/** Writes a pack release folder under `dir`; returns its path. */
export async function writePackRelease(dir: string, release: PackRelease): Promise<string> {
  const folder = join(dir, `${release.name}-${release.version}-${crypto.randomUUID().slice(0, 8)}`);
  const files: Record<string, string> = {
    "lockstep-package.json": release.declaration ?? JSON.stringify({
      format: 1,
      name: release.name,
      version: release.version,
      source: release.source ?? "local",
      ...(release.database ? { database: release.database } : {}),
      requires: release.requires ?? {},
    }),
    ...release.files ?? { "mod.ts": `export const version = "${release.version}";\n` },
  };
  for (const [file, text] of Object.entries(release.migrations ?? {})) {
    files[`migrations/${file}`] = text;
  }
  for (const [path, text] of Object.entries(files)) {
    await Deno.mkdir(join(folder, path, ".."), { recursive: true });
    await Deno.writeTextFile(join(folder, path), text);
  }
  return folder;
}

/**
 * Packs `release` with `bundle create --pack` into
 * `<app>/updates/pending/<name>-<version>.zip` (or `file`); returns its path.
 */
export async function pendingPack(
  appDir: string,
  release: PackRelease,
  options: { upgradesFrom?: string; signWith?: string; file?: string; app?: string } = {},
): Promise<string> {
  await using dir = await tempDir();
  const from = await writePackRelease(dir.path, release);
  const out = join(
    appDir,
    "updates/pending",
    options.file ?? `${release.name}-${release.version}.zip`,
  );
  await createBundle({
    from,
    app: options.app ?? "testapp",
    version: release.version,
    pack: release.name,
    out,
    ...(options.upgradesFrom ? { upgradesFrom: options.upgradesFrom } : {}),
    ...(options.signWith ? { signWith: options.signWith } : {}),
  });
  return out;
}

/** An app at 1.0.0 with `core` (users and the 1.0.0 release marker) on `backend`. */
export async function packApp(
  backend: Backend,
  extra: Record<string, unknown> = {},
): Promise<TestApp> {
  return await makeApp(backend, {
    packages: { core: { files: CORE } },
    files: { "app/main.ts": "console.log('1.0.0');\n" },
    extra,
  });
}

/** The CLI on `app` with the README's flags (read and write on the app folder, the database's). */
export function cliOf(
  app: TestApp,
): (args: string[], env?: Record<string, string>) => Promise<CliResult> {
  const postgres = Object.values(app.dbs).map((d) => d.url).filter((u) => u.startsWith("postgres"));
  const flags = documentedFlags(app.dir, { postgres });
  return (args, env = {}) =>
    runCli(
      [...flags, ...(Object.keys(env).length > 0 ? ["--allow-env=LOCKSTEP_FAULT"] : [])],
      [...args, "--config", app.configPath],
      { env },
    );
}

/** What the tests read of `check --json`. */
export interface CheckJson {
  readonly problems: { code: string; message: string; data: Record<string, unknown> }[];
  readonly packs: { name: string; version: string | null; enabled: boolean; unmet: string[] }[];
  readonly bundles: {
    file: string;
    pack: string | null;
    applies: boolean;
    problem: { code: string; message: string } | null;
  }[];
}

/** `check --json`: its exit code, its problems' codes and the report. */
export async function checkCodes(
  cli: ReturnType<typeof cliOf>,
): Promise<[number, string[], CheckJson]> {
  const result = await cli(["check", "--json"]);
  const report = JSON.parse(result.stdout);
  return [result.code, report.problems.map((p: { code: string }) => p.code), report];
}

/** The names of the files in the app's `pending/`, sorted. */
export async function pendingFiles(app: TestApp): Promise<string[]> {
  const entries = await Array.fromAsync(Deno.readDir(join(app.dir, "updates/pending")))
    .catch(() => []);
  return entries.map((e) => e.name).sort();
}
