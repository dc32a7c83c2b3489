/**
 * Reading a bundle zip safely: the central directory, each entry's local
 * header and the manifest first (all `check` ever reads), then each payload
 * entry inflated (`zip_data.ts`) to a file while its bytes are counted and
 * hashed, with the size and ratio limits enforced on the bytes actually
 * produced.
 *
 * @module
 */
import { basename } from "node:path";
import type { Limits } from "../config.ts";
import { duplicateKey } from "../strict_json.ts";
import type { EntrySpan } from "../zip_data.ts";
import { extractEntry, type Sink } from "./extract.ts";
import { type Manifest, parseManifest } from "./manifest.ts";
import { checkPaths } from "./paths.ts";
import { refuse } from "./refuse.ts";
import {
  type CentralRecord,
  checkStructure,
  readDirectory,
  readSmall,
  spanOf,
} from "./zip_reader.ts";

export { fileReader } from "./zip_reader.ts";
export { NOWHERE, type Sink } from "./extract.ts";

const MANIFEST = "bundle.json";
const SIGNATURE = "bundle.sig";
const PAYLOAD = "files/";
const SIGNATURE_LIMIT = 64 * 1024;
const S_IFMT = 0o170000;
const ALLOWED_TYPES = new Set([0, 0o100000, 0o040000]);

/** An open bundle: its manifest, signature bytes and payload entries. */
export interface BundleArchive extends AsyncDisposable {
  /** The zip's path. */
  readonly path: string;
  /** The zip's size in bytes. */
  readonly size: number;
  /** The exact bytes of bundle.json (what the signature covers). */
  readonly manifestBytes: Uint8Array<ArrayBuffer>;
  /** The bytes of bundle.sig, if present. */
  readonly signature?: Uint8Array;
  /** The parsed manifest. */
  readonly manifest: Manifest;
  /**
   * Streams the payload file `path` into `out`, checking its size, SHA-256
   * and CRC against the manifest and the ratio limit as bytes are produced.
   */
  extract(path: string, out: Sink): Promise<void>;
}

/** The entries of a bundle by role. */
interface Sorted {
  readonly payload: ReadonlyMap<string, CentralRecord>;
}

/**
 * Opens the bundle at `path`, reading only its central directory, local
 * headers, manifest and signature, and checks the entries against the
 * manifest and the limits.
 *
 * @throws {LockstepError} `BUNDLE_CORRUPT`, `BUNDLE_HIDDEN_DATA`,
 * `BUNDLE_HEADER_MISMATCH`, `BUNDLE_ENTRIES_OVERLAP`, `BUNDLE_ENTRY_UNSUPPORTED`,
 * `BUNDLE_TOO_LARGE`, `BUNDLE_CONTENT_MISMATCH`, `BUNDLE_PATH_UNSAFE`,
 * `BUNDLE_PATH_COLLISION`, `BUNDLE_MANIFEST_INVALID`, `BUNDLE_DUPLICATE_KEY`.
 */
export async function openBundle(path: string, limits: Limits): Promise<BundleArchive> {
  const where = basename(path);
  const file = await Deno.open(path, { read: true });
  try {
    const key = `${identity(await file.stat())} ${JSON.stringify(limits)}`;
    const known = recent.get(path);
    const read = known?.key === key ? known.read : await readBundle(file, limits, where);
    remember(path, key, read);
    const { size, manifestBytes, signature, manifest, spans } = read;
    return {
      path,
      size,
      manifestBytes,
      ...(signature === undefined ? {} : { signature }),
      manifest,
      extract: (name, out) =>
        extractEntry(file, spans.get(name)!, manifest.files[name]!, name, out, { limits, where }),
      [Symbol.asyncDispose]() {
        file.close();
        return Promise.resolve();
      },
    };
  } catch (error) {
    file.close();
    throw error;
  }
}

/** What reading a bundle's directory, manifest and signature found. */
interface ReadBundle {
  readonly size: number;
  readonly manifestBytes: Uint8Array<ArrayBuffer>;
  readonly signature?: Uint8Array;
  readonly manifest: Manifest;
  /** Where each payload file's data is. */
  readonly spans: ReadonlyMap<string, EntrySpan>;
}

/**
 * Bundles read by this process, by path, with the identity of the file they
 * were read from (device, inode, size, modification and change times) and
 * the limits: `install` opens each bundle three times (judged, preflighted,
 * staged), and 5,000 entries cost 0.2 s to read and check each time. Only a
 * hint: a file whose identity changed is read again, and every payload
 * file's SHA-256 is checked against the manifest when it is extracted.
 */
const recent = new Map<string, { key: string; read: ReadBundle }>();
const RECENT = 8;

function remember(path: string, key: string, read: ReadBundle): void {
  recent.delete(path);
  recent.set(path, { key, read });
  for (const old of recent.keys()) {
    if (recent.size <= RECENT) break;
    recent.delete(old);
  }
}

function identity(info: Deno.FileInfo): string {
  return [info.dev, info.ino, info.size, info.mtime?.getTime(), info.ctime?.getTime()].join(":");
}

async function readBundle(file: Deno.FsFile, limits: Limits, where: string): Promise<ReadBundle> {
  const size = (await file.stat()).size;
  const read = await readDirectory(file, size, where, new Set([MANIFEST, SIGNATURE]));
  try {
    const { entries } = read;
    if (entries.length > limits.entries) {
      refuse(
        "BUNDLE_TOO_LARGE",
        where,
        `it has ${entries.length} entries, over the limit of ${limits.entries}`,
      );
    }
    checkPaths(entries.map((e) => e.filename), where, "zip");
    const sorted = sortEntries(entries, limits, where);
    const starts = checkStructure(file, read, where);
    const manifestEntry = read.kept.get(MANIFEST)!;
    const signatureEntry = read.kept.get(SIGNATURE);
    const manifestBytes = await readSmall(manifestEntry, limits.manifestBytes, where, MANIFEST);
    refuseDuplicateKeys(manifestBytes, MANIFEST, where);
    const signature = signatureEntry &&
      await readSmall(signatureEntry, SIGNATURE_LIMIT, where, SIGNATURE);
    if (signature) refuseDuplicateKeys(signature, SIGNATURE, where);
    const manifest = parseManifest(manifestBytes, where);
    matchPayload(manifest, sorted.payload, where);
    const spans = new Map<string, EntrySpan>();
    for (const [name, entry] of sorted.payload) spans.set(name, spanOf(entry, starts.get(entry)!));
    return {
      size,
      manifestBytes,
      ...(signature === undefined ? {} : { signature }),
      manifest,
      spans,
    };
  } finally {
    await read.reader.close().catch(() => undefined);
  }
}

/** Each entry by role, refusing links, special files, encryption, other methods and places. */
function sortEntries(entries: readonly CentralRecord[], limits: Limits, where: string): Sorted {
  const payload = new Map<string, CentralRecord>();
  let manifest: CentralRecord | undefined;
  let claimed = 0;
  for (const entry of entries) {
    const name = entry.filename;
    refuseUnsupported(entry, where);
    if (entry.directory) {
      if (!name.startsWith(PAYLOAD)) {
        refuse("BUNDLE_CONTENT_MISMATCH", where, `folder "${name}" is outside files/`, {
          path: name,
        });
      }
      continue;
    }
    claimed += entry.uncompressedSize;
    if (name === MANIFEST) manifest = entry;
    else if (name === SIGNATURE) continue;
    else if (name.startsWith(PAYLOAD)) payload.set(name.slice(PAYLOAD.length), entry);
    else {
      refuse(
        "BUNDLE_CONTENT_MISMATCH",
        where,
        `entry "${name}" is neither bundle.json, bundle.sig nor under files/`,
        { path: name },
      );
    }
  }
  if (claimed > limits.totalBytes) {
    refuse(
      "BUNDLE_TOO_LARGE",
      where,
      `it inflates to ${claimed} bytes, over the limit of ${limits.totalBytes}`,
    );
  }
  if (manifest === undefined) refuse("BUNDLE_MANIFEST_INVALID", where, "it has no bundle.json");
  return { payload };
}

function refuseUnsupported(entry: CentralRecord, where: string): void {
  const name = entry.filename;
  const type = (entry.externalFileAttributes >>> 16) & S_IFMT;
  if (entry.symlink || !ALLOWED_TYPES.has(type)) {
    refuse(
      "BUNDLE_ENTRY_UNSUPPORTED",
      where,
      `entry "${name}" is a link or special file, not a regular file`,
      { path: name },
    );
  }
  if (entry.encrypted) {
    refuse("BUNDLE_ENTRY_UNSUPPORTED", where, `entry "${name}" is encrypted`, { path: name });
  }
  if (!entry.directory && entry.compressionMethod !== 0 && entry.compressionMethod !== 8) {
    refuse(
      "BUNDLE_ENTRY_UNSUPPORTED",
      where,
      `entry "${name}" uses compression method ${entry.compressionMethod} (only stored and deflate)`,
      { path: name },
    );
  }
}

/** A duplicate key makes signed JSON mean two things to two parsers. */
function refuseDuplicateKeys(bytes: Uint8Array, name: string, where: string): void {
  let key: string | undefined;
  try {
    key = duplicateKey(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (error) {
    // Not UTF-8 JSON: the manifest parser and the signature check say so in their own words.
    if (error instanceof SyntaxError || error instanceof TypeError) return;
    throw error;
  }
  if (key !== undefined) {
    refuse(
      "BUNDLE_DUPLICATE_KEY",
      where,
      `its ${name} has the key ${key} twice (JSON readers disagree on which one counts)`,
      { file: name, key },
    );
  }
}

function matchPayload(
  manifest: Manifest,
  payload: ReadonlyMap<string, CentralRecord>,
  where: string,
): void {
  for (const [name, entry] of payload) {
    const listed = manifest.files[name];
    if (listed === undefined) {
      refuse("BUNDLE_CONTENT_MISMATCH", where, `zip entry "files/${name}" is not in the manifest`, {
        path: name,
      });
    }
    if (entry.uncompressedSize !== listed.size) {
      refuse(
        "BUNDLE_CONTENT_MISMATCH",
        where,
        `"${name}" is ${entry.uncompressedSize} bytes in the zip but ${listed.size} in the manifest`,
        { path: name },
      );
    }
  }
  for (const name of Object.keys(manifest.files)) {
    if (!payload.has(name)) {
      refuse("BUNDLE_CONTENT_MISMATCH", where, `manifest file "${name}" is missing from the zip`, {
        path: name,
      });
    }
  }
}
