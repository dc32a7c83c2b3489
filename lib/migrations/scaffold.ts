/**
 * `new`: a timestamped migration file, or a release marker that depends on
 * every current head so that later migrations can depend on a release.
 *
 * @module
 */
import { join } from "node:path";
import type { Config, PackageConfig } from "../config.ts";
import { explainPermission, LockstepError } from "../errors.ts";
import { discover } from "./discover.ts";
import { heads } from "./plan.ts";

/** Options for {@link newMigration}. */
export interface NewOptions {
  /** Write a `.sql` file instead of `.ts` (default `false`). */
  sql?: boolean;
  /** The timestamp to use (default: now, UTC). */
  now?: Date;
}

/**
 * Writes an empty migration `<timestamp>_<name>` in `pkg` and returns its path.
 *
 * Permissions: `--allow-read` and `--allow-write` on the package's migrations folder,
 * `--allow-read` on the config's folder.
 *
 * @throws {LockstepError} `USAGE` (unknown package or bad name), `MIGRATION_EXISTS`.
 * @example
 * ```ts ignore
 * const path = await newMigration(config, "core", "add_email", { sql: true });
 * ```
 */
export async function newMigration(
  config: Config,
  pkg: string,
  name: string,
  options: NewOptions = {},
): Promise<string> {
  const { sql = false, now = new Date() } = options;
  const target = packageOf(config, pkg);
  if (!/^[A-Za-z0-9_-]+$/.test(name)) {
    throw new LockstepError(
      "USAGE",
      `Cannot create migration "${name}": use letters, digits, "_" or "-" only.`,
      { data: { name } },
    );
  }
  const stem = `${timestamp(now)}_${name}`;
  const info = name.replaceAll("_", " ");
  const text = sql ? sqlTemplate(info) : tsTemplate(info);
  return await create(join(target.migrations, `${stem}.${sql ? "sql" : "ts"}`), text);
}

/**
 * Writes a release marker for `version` in `pkg` (default: the first
 * package): a migration that does nothing and depends on every current head.
 *
 * Permissions: `--allow-read` on every migrations folder, `--allow-write` on the package's.
 *
 * @throws {LockstepError} `USAGE`, `MIGRATION_EXISTS`, and the discovery errors.
 * @example
 * ```ts ignore
 * await newRelease(config, "1.4.0"); // later migrations can depend on it
 * ```
 */
export async function newRelease(
  config: Config,
  version: string,
  options: { package?: string; now?: Date } = {},
): Promise<string> {
  const { now = new Date() } = options;
  const first = Object.keys(config.packages)[0];
  const target = packageOf(config, options.package ?? first ?? "");
  if (!/^[0-9A-Za-z.+-]+$/.test(version)) {
    throw new LockstepError("USAGE", `Cannot create release marker "${version}": not a version.`);
  }
  const discovered = await discover(Object.values(config.packages));
  const own = discovered.migrations.filter((m) => m.package === target.name).at(-1)?.id;
  const needed = heads(discovered.migrations).filter((id) => id !== own);
  const stem = `${timestamp(now)}_release_${version.replace(/[^0-9A-Za-z]/g, "_")}`;
  const lines = [
    `-- lockstep:info release ${version}`,
    `-- lockstep:release ${version}`,
    ...needed.map((id) => `-- lockstep:depends-on ${id}`),
    "",
  ];
  return await create(join(target.migrations, `${stem}.sql`), lines.join("\n"));
}

function packageOf(config: Config, name: string): PackageConfig {
  const pkg = config.packages[name];
  if (pkg === undefined) {
    const known = Object.keys(config.packages).join(", ") || "none";
    throw new LockstepError(
      "USAGE",
      `Cannot create a migration in package "${name}": no such package (configured: ${known}).`,
      { data: { package: name } },
    );
  }
  return pkg;
}

function timestamp(now: Date): string {
  return now.toISOString().replace(/[-:T]/g, "").slice(0, 14);
}

function sqlTemplate(info: string): string {
  return `-- lockstep:info ${info}
-- Add a "-- lockstep:depends-on <package>/<stem>" line for each migration of
-- another package that must run first.

`;
}

/** lockstep's `mod.ts`, as this copy of lockstep was loaded (a file, or the URL it runs from). */
const MOD_URL = new URL("../../mod.ts", import.meta.url).href;

function tsTemplate(info: string): string {
  return `// A lockstep migration. Keep it self-contained: import nothing from the
// application, whose code will have moved on by the time this runs again.
// The type import below is erased when the migration runs; it lets
// "deno check" check this file against lockstep's types.
import type { MigrationContext } from "${MOD_URL}";

export default {
  info: ${JSON.stringify(info)},
  dependsOn: [] as string[],
  async up(ctx: MigrationContext): Promise<void> {
    // await ctx.sql.exec("create table ...");
    // const settings = await ctx.files.readJson("config/settings.json", {});
  },
};
`;
}

/** Writes a new file; one that cannot be written whole (a full disk) is removed again. */
async function create(path: string, text: string): Promise<string> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { write: true, createNew: true });
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) {
      throw new LockstepError("MIGRATION_EXISTS", `Cannot create "${path}": it exists already.`, {
        cause: error,
        data: { path },
      });
    }
    throw error;
  }
  try {
    using opened = file;
    const bytes = new TextEncoder().encode(text);
    for (let done = 0; done < bytes.length;) done += await opened.write(bytes.subarray(done));
  } catch (error) {
    // A half-written migration would break every later discovery: take it back.
    await Deno.remove(path);
    throw explainPermission(error, `write "${path}"`);
  }
  return path;
}
