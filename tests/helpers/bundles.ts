/**
 * Bundle fixtures made by the tests: well-formed bundles from a file map, and
 * hostile ones (bad names, links, bombs, broken bytes) with zip.js, patched
 * at the byte level where a writer refuses to produce them.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { configure, ZipWriter } from "../../lib/deps/zip.ts";
import { sign } from "../../lib/bundles/signature.ts";
import { createBundle } from "../../mod.ts";
import { tempDir } from "./temp.ts";

configure({ useWebWorkers: false });

/** One zip entry as the fixture writes it. */
export interface ZipEntrySpec {
  name: string;
  data?: Uint8Array | string;
  directory?: boolean;
  level?: number;
  /** Unix file type and mode bits for the external attributes (e.g. 0o120777 for a link). */
  unixMode?: number;
  password?: string;
  /** False: sizes and CRC in the local header, no data descriptor after the data. */
  dataDescriptor?: boolean;
}

/** Writes a zip of exactly `entries` to `path`. */
export async function writeZip(path: string, entries: readonly ZipEntrySpec[]): Promise<void> {
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  const writer = new ZipWriter(file.writable, { level: 6 });
  for (const entry of entries) {
    const data = typeof entry.data === "string"
      ? new TextEncoder().encode(entry.data)
      : entry.data ?? new Uint8Array();
    const options: Record<string, unknown> = { level: entry.level ?? 6 };
    if (entry.directory) options.directory = true;
    if (entry.unixMode !== undefined) {
      options.msDosCompatible = false;
      options.externalFileAttributes = (entry.unixMode << 16) >>> 0;
    }
    if (entry.dataDescriptor === false) options.dataDescriptor = false;
    if (entry.password !== undefined) {
      options.password = entry.password;
      options.encryptionStrength = 3;
    }
    await writer.add(
      entry.name,
      entry.directory ? undefined : new Blob([data as Uint8Array<ArrayBuffer>]).stream(),
      options,
    );
  }
  await writer.close();
}

/** The manifest entry for some bytes. */
export function fileEntry(data: Uint8Array | string): { sha256: string; size: number } {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  return { sha256: createHash("sha256").update(bytes).digest("hex"), size: bytes.length };
}

/** What a well-formed bundle holds, with knobs to break it. */
export interface BundleSpec {
  app?: string;
  version: string;
  upgradesFrom?: string;
  files?: Record<string, string | Uint8Array>;
  remove?: string[];
  /** Replaces or adds manifest keys after it is built. */
  manifest?: Record<string, unknown>;
  /** Raw manifest bytes instead of the JSON built from the other fields. */
  manifestText?: string;
  /** Sign with this key file. */
  signWith?: string;
  /** Raw bundle.sig text. */
  signature?: string;
  /** More zip entries (after the payload). */
  extra?: ZipEntrySpec[];
  /** Payload paths to leave out of the zip while the manifest lists them. */
  omit?: string[];
  /** Options per payload entry (level, unixMode). */
  entryOptions?: Record<string, Partial<ZipEntrySpec>>;
  security?: boolean;
  notes?: string;
}

/** Writes a bundle zip to `path` and returns its manifest object. */
export async function writeBundle(
  path: string,
  spec: BundleSpec,
): Promise<Record<string, unknown>> {
  const files = spec.files ?? {};
  const manifest: Record<string, unknown> = {
    format: 1,
    app: spec.app ?? "testapp",
    version: spec.version,
    ...(spec.upgradesFrom ? { upgradesFrom: spec.upgradesFrom } : {}),
    released: "2026-11-01T00:00:00Z",
    security: spec.security ?? false,
    notes: spec.notes ?? `Release ${spec.version}`,
    database: [],
    requires: {},
    files: Object.fromEntries(Object.entries(files).map(([p, d]) => [p, fileEntry(d)])),
    remove: spec.remove ?? [],
    ...spec.manifest,
  };
  const manifestBytes = new TextEncoder().encode(
    spec.manifestText ?? JSON.stringify(manifest, null, 2),
  );
  const entries: ZipEntrySpec[] = [{ name: "bundle.json", data: manifestBytes }];
  if (spec.signWith) {
    entries.push({ name: "bundle.sig", data: await sign(manifestBytes, spec.signWith) });
  }
  if (spec.signature !== undefined) entries.push({ name: "bundle.sig", data: spec.signature });
  for (const [p, data] of Object.entries(files)) {
    if (spec.omit?.includes(p)) continue;
    entries.push({ name: `files/${p}`, data, ...spec.entryOptions?.[p] });
  }
  entries.push(...(spec.extra ?? []));
  await writeZip(path, entries);
  return manifest;
}

/** Replaces every occurrence of `from` with `to` (same length) in a file's bytes. */
export async function patchBytes(path: string, from: string, to: string): Promise<void> {
  if (from.length !== to.length) throw new RangeError("patchBytes keeps offsets: same length only");
  const bytes = await Deno.readFile(path);
  const needle = new TextEncoder().encode(from);
  const replacement = new TextEncoder().encode(to);
  let found = 0;
  for (let i = 0; i <= bytes.length - needle.length; i++) {
    if (needle.every((b, j) => bytes[i + j] === b)) {
      bytes.set(replacement, i);
      found++;
    }
  }
  if (found === 0) throw new Error(`"${from}" not found in ${path}`);
  await Deno.writeFile(path, bytes);
}

/** A content hash of every file (path, mode, bytes) and link under `root`, skipping `skip` folders. */
export async function treeHash(
  root: string,
  skip: readonly string[] = [],
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  async function walk(relative: string) {
    for await (const entry of Deno.readDir(relative === "" ? root : `${root}/${relative}`)) {
      const path = relative === "" ? entry.name : `${relative}/${entry.name}`;
      if (skip.includes(path)) continue;
      const info = await Deno.lstat(`${root}/${path}`);
      if (entry.isSymlink) out[path] = `link:${await Deno.readLink(`${root}/${path}`)}`;
      else if (entry.isDirectory) {
        out[`${path}/`] = `dir:${(info.mode ?? 0) & 0o777}`;
        await walk(path);
      } else {
        const digest = createHash("sha256").update(await Deno.readFile(`${root}/${path}`)).digest(
          "hex",
        );
        out[path] = `${(info.mode ?? 0) & 0o777}:${digest}`;
      }
    }
  }
  await walk("");
  return out;
}

/**
 * Packs a release folder made of `files` (path → text) with `bundle create`'s
 * own code into `<appDir>/updates/pending/testapp-<version>.zip`.
 */
export async function pendingRelease(
  appDir: string,
  version: string,
  files: Record<string, string>,
): Promise<void> {
  await using dir = await tempDir();
  for (const [path, text] of Object.entries(files)) {
    await Deno.mkdir(join(dir.path, path, ".."), { recursive: true });
    await Deno.writeTextFile(join(dir.path, path), text);
  }
  await Deno.mkdir(join(appDir, "updates/pending"), { recursive: true });
  await createBundle({
    from: dir.path,
    app: "testapp",
    version,
    out: join(appDir, "updates/pending", `testapp-${version}.zip`),
  });
}
