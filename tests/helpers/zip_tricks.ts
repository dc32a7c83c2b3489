/**
 * Archive tricks for hostile fixtures, made by patching a zip that zip.js
 * wrote: a local header that disagrees with its central entry, entries that
 * overlap, bytes hidden between entries; and the hostile fixtures of issue
 * 12 items 13 and 14 built with them. Only offsets are parsed (the end
 * record and the central directory of a small zip without a comment).
 *
 * @module
 */
import { type BundleSpec, writeBundle } from "./bundles.ts";

/** Where one entry's records are. */
export interface ZipRecord {
  readonly name: string;
  /** Offset of its central directory header. */
  readonly central: number;
  /** Offset of its local header (as the central directory says). */
  readonly local: number;
  /** Offset of its data (after the local header, name and extra field). */
  readonly data: number;
  readonly compressedSize: number;
}

/** The records of a zip written by zip.js (no comment, no zip64 end record). */
export function zipRecords(bytes: Uint8Array): { records: ZipRecord[]; directory: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = bytes.length - 22;
  if (view.getUint32(end, true) !== 0x06054b50) throw new Error("no end record (a comment?)");
  const count = view.getUint16(end + 10, true);
  const directory = view.getUint32(end + 16, true);
  const records: ZipRecord[] = [];
  for (let at = directory, i = 0; i < count; i++) {
    const nameLength = view.getUint16(at + 28, true);
    const local = view.getUint32(at + 42, true);
    records.push({
      name: new TextDecoder().decode(bytes.subarray(at + 46, at + 46 + nameLength)),
      central: at,
      local,
      data: local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true),
      compressedSize: view.getUint32(at + 20, true),
    });
    at += 46 + nameLength + view.getUint16(at + 30, true) + view.getUint16(at + 32, true);
  }
  return { records, directory };
}

/** Changes the zip at `path` in place: `patch` gets its bytes and records. */
export async function patchZip(
  path: string,
  patch: (bytes: Uint8Array, view: DataView, records: Map<string, ZipRecord>) => void,
): Promise<void> {
  const bytes = await Deno.readFile(path);
  const { records } = zipRecords(bytes);
  patch(
    bytes,
    new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    new Map(records.map((r) => [r.name, r])),
  );
  await Deno.writeFile(path, bytes);
}

/**
 * Inserts `hidden` at `at` and moves every offset past it (central entries,
 * the end record), so that only the hidden bytes are out of place.
 */
export async function hideBytes(path: string, at: number, hidden: Uint8Array): Promise<void> {
  const before = await Deno.readFile(path);
  const { records, directory } = zipRecords(before);
  const bytes = new Uint8Array(before.length + hidden.length);
  bytes.set(before.subarray(0, at));
  bytes.set(hidden, at);
  bytes.set(before.subarray(at), at + hidden.length);
  const view = new DataView(bytes.buffer);
  const shift = (offset: number) => offset >= at ? offset + hidden.length : offset;
  for (const record of records) {
    view.setUint32(shift(record.central) + 42, shift(record.local), true);
  }
  view.setUint32(bytes.length - 22 + 16, shift(directory), true);
  await Deno.writeFile(path, bytes);
}

/** A hostile fixture: what it is, the code it is refused with, and how to build it at `path`. */
export interface Trick {
  readonly label: string;
  readonly code: string;
  build(path: string): Promise<unknown>;
}

const MAIN = "files/app/main.ts";
const GOOD = {
  version: "1.1.0",
  upgradesFrom: ">=1.0.0 <1.1.0",
  files: { "app/main.ts": "console.log('1.1.0');\n", "app/other.ts": "export const o = 1;\n" },
};

/** Writes a two-file bundle (or `spec`), then patches it. */
const patched = (
  patch: Parameters<typeof patchZip>[1],
  spec: BundleSpec = GOOD,
) =>
async (path: string) => {
  await writeBundle(path, spec);
  await patchZip(path, patch);
};

/** The parser differentials (issue 12 item 13), each with its code. */
export const DIFFERENTIALS: readonly Trick[] = [
  {
    label: "a local header whose name differs from the central one",
    code: "BUNDLE_HEADER_MISMATCH",
    build: patched((bytes, _view, records) => {
      bytes.set(new TextEncoder().encode("files/app/evil.ts"), records.get(MAIN)!.local + 30);
    }),
  },
  {
    label: "a local header whose compression method differs",
    code: "BUNDLE_HEADER_MISMATCH",
    build: patched((_b, view, records) => view.setUint16(records.get(MAIN)!.local + 8, 0, true)),
  },
  {
    label: "a local header whose flags differ",
    code: "BUNDLE_HEADER_MISMATCH",
    build: patched((_bytes, view, records) => {
      const at = records.get(MAIN)!.local + 6;
      view.setUint16(at, view.getUint16(at, true) ^ 0x0800, true);
    }),
  },
  {
    label: "a data descriptor whose size differs from the central directory",
    code: "BUNDLE_HEADER_MISMATCH",
    build: patched((_bytes, view, records) => {
      const main = records.get(MAIN)!;
      // After the data: signature, CRC, then zip64 compressed and uncompressed sizes.
      const at = main.data + main.compressedSize + 4 + 4 + 8;
      view.setBigUint64(at, view.getBigUint64(at, true) + 1n, true);
    }),
  },
  {
    label: "a local header whose sizes differ (no data descriptor)",
    code: "BUNDLE_HEADER_MISMATCH",
    build: patched(
      (_bytes, view, records) => {
        // zip.js writes the sizes in a zip64 extra field: its ID and length, then the inflated size.
        const at = records.get(MAIN)!.local + 30 + MAIN.length + 4;
        view.setBigUint64(at, view.getBigUint64(at, true) + 1n, true);
      },
      { ...GOOD, entryOptions: { "app/main.ts": { dataDescriptor: false } } },
    ),
  },
  {
    label: "entries whose data overlap (the overlapping-files zip bomb)",
    code: "BUNDLE_ENTRIES_OVERLAP",
    build: patched((_bytes, view, records) => {
      const other = records.get("files/app/other.ts")!;
      view.setUint32(other.central + 42, records.get(MAIN)!.local, true);
    }),
  },
  {
    label: "bytes hidden between two entries",
    code: "BUNDLE_HIDDEN_DATA",
    build: async (path) => {
      await writeBundle(path, GOOD);
      const { records } = zipRecords(await Deno.readFile(path));
      const other = records.find((r) => r.name === "files/app/other.ts")!;
      await hideBytes(path, other.local, new TextEncoder().encode("#!/bin/sh\nrm -rf /\n"));
    },
  },
  {
    label: "bytes hidden between the last entry and the central directory",
    code: "BUNDLE_HIDDEN_DATA",
    build: async (path) => {
      await writeBundle(path, GOOD);
      const { directory } = zipRecords(await Deno.readFile(path));
      await hideBytes(path, directory, new Uint8Array(64).fill(0x41));
    },
  },
  {
    label: "a bundle.json with a duplicate key",
    code: "BUNDLE_DUPLICATE_KEY",
    build: (path) =>
      writeBundle(path, {
        ...GOOD,
        manifestText: JSON.stringify({ format: 1, app: "testapp", version: "1.1.0", files: {} })
          .replace('"version":"1.1.0"', '"version":"1.1.0","version":"9.9.9"'),
      }),
  },
  {
    label: "a bundle.sig with a duplicate key",
    code: "BUNDLE_DUPLICATE_KEY",
    build: (path) =>
      writeBundle(path, { ...GOOD, signature: '{"key":"a","key":"b","sig":"AAAA"}' }),
  },
];

/** Names a Windows host cannot hold or would alias (issue 12 item 14), each with its code. */
export const UNPORTABLE: readonly Trick[] = [
  ...([
    ["a reserved device name", "app/CON"],
    ["a device name with an extension", "app/aux.txt"],
    ["a device name in lower case", "app/com1.log"],
    ["LPT9", "app/LPT9.ts"],
    ["a device name as a folder", "nul/x.ts"],
    ["a trailing dot", "app/main."],
    ["a trailing space", "app/main.ts "],
    ["a colon (an alternate data stream)", "app/main.ts:stream"],
    ["a character Windows refuses", "app/what?.ts"],
  ] as const).map(([label, path]) => ({
    label: `${label} in the manifest`,
    code: "BUNDLE_PATH_UNSAFE",
    build: (to: string) => writeBundle(to, { ...GOOD, files: { [path]: "x" } }),
  })),
  {
    label: "folders whose names differ only by case",
    code: "BUNDLE_PATH_COLLISION",
    build: (path) =>
      writeBundle(path, { ...GOOD, files: { "App/one.ts": "1", "app/two.ts": "2" } }),
  },
  {
    label: "a removal that aliases a written file by case",
    code: "BUNDLE_PATH_COLLISION",
    build: (path) =>
      writeBundle(path, { ...GOOD, files: { "app/README.md": "new" }, remove: ["app/readme.md"] }),
  },
];
