/**
 * PostgreSQL in `lockstep.json`: `postgres://USER@HOST:PORT/DB` (or
 * `postgresql://`), never with a password in it (`passwordEnv` names the
 * variable that holds it), managing the configured schemas (default
 * `public`). A server's database lives in no file of the app root.
 *
 * @module
 */
import { redact } from "../../redact.ts";
import type { ParsedUrl, UrlSyntax } from "../dialect.ts";

/** How PostgreSQL databases are named. */
export const postgresUrls: UrlSyntax = {
  name: "postgres",
  title: "PostgreSQL",
  urlPrefix: "postgres://",
  takesPassword: true,
  shared: true,
  matches: (url) => /^postgres(ql)?:\/\//.test(url),
  parseUrl(url: string, _base: string, fail: (problem: string) => never): ParsedUrl {
    const parsed = URL.parse(url);
    if (parsed === null) return fail(`is not a valid URL ("${redact(url)}")`);
    if (parsed.password !== "") {
      fail(`holds a password: move it to an environment variable named by "passwordEnv"`);
    }
    return { url };
  },
  managedSchemas: (configured) => configured ?? ["public"],
  files: () => [],
};
