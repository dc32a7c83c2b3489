/**
 * Archive tricks for hostile fixtures, made by patching a zip that zip.js
 * wrote: a local header that disagrees with its central entry, entries that
 * overlap, bytes hidden between entries. Only offsets are parsed (the end
 * record and the central directory of a small zip without a comment).
 *
 * @module
 */

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
