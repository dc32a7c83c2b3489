/**
 * SQLite in `lockstep.json`: `sqlite:PATH` (relative to the config's
 * folder), and the files a SQLite database lives in.
 *
 * @module
 */
import { isAbsolute, resolve } from "node:path";
import type { DatabaseConfig, ParsedUrl, UrlSyntax } from "../dialect.ts";

const PREFIX = "sqlite:";

/** The database file and its journals: what a files backup leaves to SQLite. */
export function sqliteFiles(db: DatabaseConfig): string[] {
  return ["", "-wal", "-shm", "-journal"].map((suffix) => `${db.path!}${suffix}`);
}

/** How SQLite databases are named and where they live. */
export const sqliteUrls: UrlSyntax = {
  name: "sqlite",
  title: "SQLite",
  urlPrefix: PREFIX,
  takesPassword: false,
  shared: false,
  matches: (url) => url.startsWith(PREFIX),
  parseUrl(url: string, base: string, fail: (problem: string) => never): ParsedUrl {
    const file = url.slice(PREFIX.length).replace(/^\/\/(?=\/)/, "");
    if (file === "") fail(`names no file ("sqlite:PATH")`);
    if (file.startsWith("//")) {
      // sqlite://data/x.db would name a host "data": SQLite URLs have none.
      const path = file.slice(2);
      fail(
        `"${url}" reads "${path.split("/")[0]}" as a host: use sqlite:PATH ("sqlite:${path}" ` +
          `for a file relative to the config's folder, "sqlite:/${path}" for an absolute one)`,
      );
    }
    const path = isAbsolute(file) ? file : resolve(base, file);
    return { url: `${PREFIX}${path}`, path };
  },
  // One database per file: its schema is always "main".
  managedSchemas: () => ["main"],
  files: sqliteFiles,
};
