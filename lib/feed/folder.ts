/**
 * A feed in a folder: a mirror on a USB stick, a network share, a local copy
 * made by `feed build`. Files are read by their plain relative path (the
 * index has already refused anything else), with the same byte cap as HTTP.
 *
 * @module
 */
import { join } from "node:path";
import { type FeedSource, readCapped, unreachable } from "./transport.ts";

/** A folder holding the feed: a mirror on a USB stick, a network share, a local copy. */
export function folderSource(folder: string): FeedSource {
  const where = (path: string) => join(folder, ...path.split("/"));
  return {
    location: folder,
    where,
    async read(path, options) {
      let file: Deno.FsFile;
      try {
        file = await Deno.open(where(path), { read: true });
      } catch (error) {
        // Other operating-system errors (a folder this user may not read) are worded by the caller.
        if (!(error instanceof Deno.errors.NotFound)) throw error;
        throw unreachable(where(path), "there is no such file", { notFound: true }, error);
      }
      if (!(await file.stat()).isFile) {
        file.close();
        throw unreachable(where(path), "it is not a regular file", { notFound: true });
      }
      // The readable closes the file when it ends or is cancelled.
      return await readCapped(file.readable, options);
    },
  };
}
