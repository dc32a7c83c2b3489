/**
 * A trial restore of a PostgreSQL backup artifact (`backup verify
 * --restore`): a scratch database `lockstep_verify_<random>` is made on the
 * same server (from `template0`, with the live database's encoding and
 * locale, its extensions and the managed schemas), the artifact is restored
 * into it exactly as `restore` would, and the scratch database is dropped
 * afterwards, whatever happened. The live database is only read.
 *
 * A role that may not create databases gets the reason as a verification
 * problem: a trial into a schema of the live database cannot be made
 * faithful (every name in a dump is qualified with its original schema).
 *
 * @module
 */
import { LockstepError, messageOf } from "../../errors.ts";
import { redact } from "../../redact.ts";
import type { DatabaseConfig } from "../dialect.ts";
import { connect } from "./client.ts";
import type { PostgresFormat } from "./dump.ts";
import { ident, literal } from "./dump_script.ts";
import { restorePostgres } from "./restore.ts";

/** Why the artifact at `path` does not restore into a scratch copy of `db`, or `undefined`. */
export async function trialRestore(
  db: DatabaseConfig,
  path: string,
  format: PostgresFormat,
): Promise<string | undefined> {
  const admin = await connect(db);
  const scratch = `lockstep_verify_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  let made = false;
  try {
    const refused = await refuseWithoutCreatedb(admin);
    if (refused !== undefined) return refused;
    const [live] = await admin.unsafe(
      `select pg_encoding_to_char(encoding) as encoding, datcollate, datctype,
              datlocprovider::text, daticulocale
         from pg_database where datname = current_database()`,
    );
    const locale = live!.datlocprovider === "i"
      ? ` LOCALE_PROVIDER icu ICU_LOCALE ${literal(String(live!.daticulocale))}`
      : "";
    await admin.unsafe(
      `CREATE DATABASE ${ident(scratch)} TEMPLATE template0 ENCODING ${
        literal(String(live!.encoding))
      } LC_COLLATE ${literal(String(live!.datcollate))} LC_CTYPE ${
        literal(String(live!.datctype))
      }${locale}`,
    );
    made = true;
    const extensions = await admin.unsafe(
      `select e.extname, n.nspname from pg_extension e join pg_namespace n on n.oid = e.extnamespace
        where e.extname <> 'plpgsql' order by e.oid`,
    );
    const target: DatabaseConfig = { ...db, url: withDatabase(db.url, scratch) };
    const problem = await prepare(target, extensions.map((e) => [e.extname, e.nspname]));
    if (problem !== undefined) return problem;
    await restorePostgres(target, path, format);
    return undefined;
  } catch (error) {
    if (error instanceof LockstepError && error.code === "PERMISSION_DENIED") throw error;
    if (error instanceof TypeError || error instanceof RangeError) throw error;
    return `it does not restore into a scratch database: ${redact(messageOf(error))}`;
  } finally {
    if (made) {
      await admin.unsafe(`DROP DATABASE IF EXISTS ${ident(scratch)} WITH (FORCE)`);
    }
    await admin.end({ timeout: 1 });
  }
}

/** The reason a scratch database cannot be made by this role, or `undefined`. */
async function refuseWithoutCreatedb(
  admin: Awaited<ReturnType<typeof connect>>,
): Promise<string | undefined> {
  const [role] = await admin.unsafe(
    "select current_user as name, rolcreatedb or rolsuper as may from pg_roles where rolname = current_user",
  );
  if (role?.may === true) return undefined;
  return `a trial restore needs a scratch database, and role "${role?.name}" may not create ` +
    `one: grant it CREATEDB, or run "backup verify --restore" with a role that may`;
}

/** The managed schemas and the live database's extensions, in the scratch database. */
async function prepare(
  target: DatabaseConfig,
  extensions: readonly (readonly [unknown, unknown])[],
): Promise<string | undefined> {
  const client = await connect(target);
  try {
    for (const schema of target.schemas) {
      await client.unsafe(`CREATE SCHEMA IF NOT EXISTS ${ident(schema)}`);
    }
    for (const [name, schema] of extensions) {
      await client.unsafe(`CREATE SCHEMA IF NOT EXISTS ${ident(String(schema))}`);
      await client.unsafe(
        `CREATE EXTENSION IF NOT EXISTS ${ident(String(name))} WITH SCHEMA ${
          ident(String(schema))
        }`,
      ).catch((error) => {
        throw new Error(`extension ${name} cannot be made in it (${messageOf(error)})`);
      });
    }
    return undefined;
  } finally {
    await client.end({ timeout: 1 });
  }
}

/** `url` naming database `name` instead. */
function withDatabase(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}
