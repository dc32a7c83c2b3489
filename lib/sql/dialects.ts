/**
 * The registry of dialects: every database lockstep supports, found by name
 * (`DatabaseConfig.dialect`, backup.json's `dialect`, an open connection's)
 * or by URL scheme.
 *
 * @module
 */
import type { SqlDialect } from "./dialect.ts";
import type { Dialect } from "./driver.ts";
import { postgres } from "./postgres/dialect.ts";
import { sqlite } from "./sqlite/dialect.ts";

/** Every supported dialect, in the order messages list them. */
export const DIALECTS: readonly SqlDialect[] = [sqlite, postgres];

/**
 * The dialect named `of`, or the one of a database config, connection or
 * backup entry (anything with a `dialect`).
 *
 * @throws {TypeError} for a name no dialect has.
 */
export function dialectOf(of: Dialect | { readonly dialect: Dialect }): SqlDialect {
  const name = typeof of === "string" ? of : of.dialect;
  const found = DIALECTS.find((d) => d.name === name);
  if (found === undefined) throw new TypeError(`lockstep has no SQL dialect "${name}"`);
  return found;
}

/** True when `name` is a dialect's name (for names read from files). */
export function isDialect(name: unknown): name is Dialect {
  return DIALECTS.some((d) => d.name === name);
}

/** The dialect whose URLs start like `url`, if any. */
export function dialectForUrl(url: string): SqlDialect | undefined {
  return DIALECTS.find((d) => d.matches(url));
}
