/**
 * The zip's layout, held to one reading. zip.js reads the central directory;
 * other readers (streaming ones, older installers) read the local file
 * headers, so a bundle whose two views disagree could install one thing and
 * be verified as another (Android's "Master Key" family). This reads each
 * entry's local header (and data descriptor) with plain `DataView` reads and
 * refuses:
 *
 * - a local header that disagrees with its central entry (name, flags,
 *   method, CRC or sizes), or a name that can be read two ways:
 *   `BUNDLE_HEADER_MISMATCH`;
 * - entries whose bytes overlap (the "overlapping files" zip bomb,
 *   CVE-2019-13232): `BUNDLE_ENTRIES_OVERLAP`;
 * - bytes that belong to no entry, between entries or before the central
 *   directory: `BUNDLE_HIDDEN_DATA`.
 *
 * Only offsets are parsed here: the central directory is zip.js's, and the
 * data span of each entry found here (where its bytes start, once its local
 * header agrees with the central directory) is what `zip_data.ts` inflates.
 *
 * @module
 */
import { refuse } from "./refuse.ts";

/** What the central directory says of one entry (the fields of zip.js's `Entry` used here). */
export interface CentralEntry {
  readonly filename: string;
  readonly rawFilename: Uint8Array;
  readonly offset: number;
  readonly compressedSize: number;
  readonly uncompressedSize: number;
  readonly compressionMethod: number;
  readonly rawBitFlag?: number;
  readonly signature?: number;
}

const LOCAL_HEADER = 0x04034b50;
const DESCRIPTOR = 0x08074b50;
const ZIP64_EXTRA = 0x0001;
const MAX_32 = 0xffffffff;
const HAS_DESCRIPTOR = 0x0008;
const UTF8_NAME = 0x0800;
const WINDOW = 64 * 1024;

/** The bytes one entry occupies, from its local header to the end of its data descriptor. */
interface Span {
  readonly name: string;
  readonly start: number;
  readonly end: number;
}

/**
 * Refuses a zip whose local headers, entry spans or gaps disagree with its
 * central directory (at `directoryOffset`). Returns where each entry's data
 * starts (after its local header), by entry.
 *
 * @throws {LockstepError} `BUNDLE_HEADER_MISMATCH`, `BUNDLE_ENTRIES_OVERLAP`,
 * `BUNDLE_HIDDEN_DATA`.
 */
export function checkLayout<E extends CentralEntry>(
  file: Deno.FsFile,
  entries: readonly E[],
  directoryOffset: number,
  where: string,
): Map<E, number> {
  // In file order, so that one window read serves the headers of many small entries.
  const ordered = [...entries].sort((a, b) => a.offset - b.offset);
  const window = new Window(file);
  const locals = ordered.map((entry) => readLocal(window, entry, where));
  checkSpans(locals.map((l) => l.span), directoryOffset, where);
  const starts = new Map<E, number>();
  for (const [i, entry] of ordered.entries()) {
    compareHeaders(window, entry, locals[i]!, where);
    starts.set(entry, locals[i]!.dataStart);
  }
  return starts;
}

/** One local header as read from the file. */
interface Local {
  readonly span: Span;
  readonly flags: number;
  readonly method: number;
  readonly crc: number;
  readonly compressedSize: number;
  readonly uncompressedSize: number;
  readonly name: Uint8Array;
  /** The zip64 sizes of the local extra field (uncompressed, compressed), if any. */
  readonly zip64?: readonly bigint[];
  /** Where the entry's data starts. */
  readonly dataStart: number;
  /** The data descriptor's length (0 without one). */
  readonly descriptorLength: number;
}

function readLocal(file: Window, entry: CentralEntry, where: string): Local {
  // Each view is read before the next call: the window's buffer is reused.
  const header = file.view(entry.offset, 30);
  if (header.byteLength < 30 || header.getUint32(0, true) !== LOCAL_HEADER) {
    mismatch(where, entry, `has no local header at offset ${entry.offset}`);
  }
  const flags = header.getUint16(6, true);
  const method = header.getUint16(8, true);
  const crc = header.getUint32(14, true);
  const compressedSize = header.getUint32(18, true);
  const uncompressedSize = header.getUint32(22, true);
  const nameLength = header.getUint16(26, true);
  const extraLength = header.getUint16(28, true);
  const rest = file.view(entry.offset + 30, nameLength + extraLength);
  const bytes = new Uint8Array(rest.buffer, rest.byteOffset, rest.byteLength);
  const zip64 = zip64Sizes(bytes.subarray(nameLength));
  const name = bytes.slice(0, nameLength);
  const dataStart = entry.offset + 30 + nameLength + extraLength;
  const dataEnd = dataStart + entry.compressedSize;
  const descriptorLength = (flags & HAS_DESCRIPTOR) === 0
    ? 0
    : descriptorAt(file, dataEnd, zip64 !== undefined).length;
  return {
    span: { name: entry.filename, start: entry.offset, end: dataEnd + descriptorLength },
    flags,
    method,
    crc,
    compressedSize,
    uncompressedSize,
    name,
    ...(zip64 === undefined ? {} : { zip64 }),
    dataStart,
    descriptorLength,
  };
}

/** Every byte before the central directory belongs to exactly one entry. */
function checkSpans(spans: readonly Span[], directoryOffset: number, where: string): void {
  const sorted = [...spans].sort((a, b) => a.start - b.start || a.end - b.end);
  let previous: Span = { name: "", start: 0, end: 0 };
  for (const span of [...sorted, { name: "", start: directoryOffset, end: directoryOffset }]) {
    const next = span.name === "" ? "the central directory" : `entry "${span.name}"`;
    if (span.start < previous.end) {
      const how = span.start === previous.start
        ? `${next} and entry "${previous.name}" start at the same offset`
        : `${next} starts inside the bytes of entry "${previous.name}"`;
      refuse(
        "BUNDLE_ENTRIES_OVERLAP",
        where,
        `${how} (entries that share bytes: the "overlapping files" zip bomb)`,
        { entries: [previous.name, span.name].filter((n) => n !== "") },
      );
    }
    if (span.start > previous.end) {
      refuse(
        "BUNDLE_HIDDEN_DATA",
        where,
        `${span.start - previous.end} byte(s) at offset ${previous.end} belong to no entry ` +
          `(before ${next})`,
        { offset: previous.end, length: span.start - previous.end },
      );
    }
    previous = span;
  }
}

function compareHeaders(file: Window, entry: CentralEntry, local: Local, where: string) {
  const central = "the central directory's";
  if (!sameBytes(local.name, entry.rawFilename)) {
    mismatch(where, entry, `has a local header whose name differs from ${central}`);
  }
  const flags = entry.rawBitFlag ?? 0;
  if (local.flags !== flags) {
    mismatch(where, entry, `has local flags ${hex(local.flags)}, ${central} are ${hex(flags)}`);
  }
  if (local.method !== entry.compressionMethod) {
    mismatch(
      where,
      entry,
      `has local compression method ${local.method}, ${central} is ${entry.compressionMethod}`,
    );
  }
  const name = nameReading(entry);
  if (name !== undefined) mismatch(where, entry, name);
  const expected = [entry.signature ?? 0, entry.compressedSize, entry.uncompressedSize];
  const found = recorded(file, entry, local);
  if (found.some((value, i) => value !== expected[i])) {
    const [crc, compressed, inflated] = found;
    mismatch(
      where,
      entry,
      `records CRC ${hex(crc!)}, ${compressed} bytes compressed and ${inflated} inflated in its ` +
        `${local.descriptorLength > 0 ? "data descriptor" : "local header"}, but CRC ` +
        `${hex(expected[0]!)}, ${expected[1]} and ${expected[2]} in the central directory`,
    );
  }
}

/**
 * The CRC and sizes the local side records: the data descriptor's when the
 * entry has one (the header then holds zeros or these values), else the
 * header's (zip64 sizes resolved). Any other value there is `NaN`.
 */
function recorded(file: Window, entry: CentralEntry, local: Local): number[] {
  const [zipUncompressed, zipCompressed] = local.zip64 ?? [];
  const sizes = [
    size(local.compressedSize, zipCompressed),
    size(local.uncompressedSize, zipUncompressed),
  ];
  if ((local.flags & HAS_DESCRIPTOR) === 0) return [local.crc, ...sizes];
  const found = descriptorAt(
    file,
    local.dataStart + entry.compressedSize,
    local.zip64 !== undefined,
  );
  const placeholder = [local.crc, ...sizes].every((value, i) =>
    value === 0 || value === found.values[i]
  );
  return placeholder ? found.values : [NaN, NaN, NaN];
}

/** Why the entry's name can be read two ways, if it can. */
function nameReading(entry: CentralEntry): string | undefined {
  let raw: string;
  try {
    raw = new TextDecoder("utf-8", { fatal: true }).decode(entry.rawFilename);
  } catch {
    return "has a name that is not UTF-8";
  }
  // deno-lint-ignore no-control-regex
  if (/[^\u0000-\u007f]/.test(raw) && ((entry.rawBitFlag ?? 0) & UTF8_NAME) === 0) {
    return "has a non-ASCII name without the UTF-8 flag (readers decode it differently)";
  }
  if (raw !== entry.filename) return `carries a second name "${entry.filename}" in an extra field`;
  return undefined;
}

/** A data descriptor at `at`: its length and (CRC, compressed, uncompressed). */
function descriptorAt(
  file: Window,
  at: number,
  zip64: boolean,
): { length: number; values: number[] } {
  const view = file.view(at, 24);
  const signed = view.byteLength >= 4 && view.getUint32(0, true) === DESCRIPTOR;
  const base = signed ? 4 : 0;
  const length = base + (zip64 ? 20 : 12);
  if (view.byteLength < length) return { length: 0, values: [NaN, NaN, NaN] };
  const read = (offset: number) =>
    zip64 ? Number(view.getBigUint64(offset, true)) : view.getUint32(offset, true);
  return {
    length,
    values: [view.getUint32(base, true), read(base + 4), read(base + (zip64 ? 12 : 8))],
  };
}

/** The sizes of a local zip64 extra field (uncompressed first), if there is one. */
function zip64Sizes(extra: Uint8Array): bigint[] | undefined {
  const view = new DataView(extra.buffer, extra.byteOffset, extra.byteLength);
  for (let at = 0; at + 4 <= extra.length;) {
    const id = view.getUint16(at, true);
    const length = view.getUint16(at + 2, true);
    if (id === ZIP64_EXTRA) {
      const sizes: bigint[] = [];
      for (let o = at + 4; o + 8 <= Math.min(at + 4 + length, extra.length); o += 8) {
        sizes.push(view.getBigUint64(o, true));
      }
      return sizes;
    }
    at += 4 + length;
  }
  return undefined;
}

/** A 32-bit size field, read from the zip64 extra field when it says so. */
function size(value: number, zip64: bigint | undefined): number {
  return value === MAX_32 && zip64 !== undefined ? Number(zip64) : value;
}

/**
 * Reads of a file through a 64 KiB window: headers of small entries that lie
 * close together cost one read, not three each. The window's buffer is
 * reused (entries far apart would otherwise cost 64 KiB of garbage each): a
 * view is valid until the next call.
 */
class Window {
  #buffer = new Uint8Array(WINDOW);
  #start = 0;
  #length = 0;
  constructor(private readonly file: Deno.FsFile) {}

  /** `length` bytes at `at` (fewer at the end of the file), valid until the next call. */
  view(at: number, length: number): DataView<ArrayBuffer> {
    if (at < this.#start || at + length > this.#start + this.#length) {
      if (length > this.#buffer.length) this.#buffer = new Uint8Array(length);
      this.#start = at;
      this.#length = this.#read(at, this.#buffer);
    }
    const from = at - this.#start;
    const available = Math.max(0, Math.min(length, this.#length - from));
    return new DataView(this.#buffer.buffer, this.#buffer.byteOffset + from, available);
  }

  #read(at: number, buffer: Uint8Array): number {
    this.file.seekSync(at, Deno.SeekMode.Start);
    let filled = 0;
    while (filled < buffer.length) {
      const n = this.file.readSync(buffer.subarray(filled));
      if (n === null) break;
      filled += n;
    }
    return filled;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

function hex(n: number): string {
  return Number.isNaN(n) ? "(unreadable)" : `0x${n.toString(16).padStart(4, "0")}`;
}

function mismatch(where: string, entry: CentralEntry, reason: string): never {
  return refuse("BUNDLE_HEADER_MISMATCH", where, `entry "${entry.filename}" ${reason}`, {
    path: entry.filename,
  });
}
