/**
 * zip.js, pinned: streaming zip reading and writing on Web Streams, with
 * Deno's native (de)compression. Loaded with a dynamic `import()` only when a
 * bundle or backup is read or written, so `check` with nothing pending never
 * loads it.
 *
 * @module
 */
export {
  configure,
  type Entry,
  type FileEntry,
  Reader,
  Uint8ArrayReader,
  ZipReader,
  ZipWriter,
} from "npm:@zip.js/zip.js@2.24.0";
