/**
 * An entry's data as `zip_data.ts` reads it and `zip_writer.ts` writes it,
 * both over one `node:zlib` engine reused from entry to entry: entries of
 * every size round-trip byte for byte, and a deflate stream with bytes after
 * its end, cut short, or inflating past its recorded size is refused without
 * producing much more than that size.
 *
 * @module
 */
import { crc32, deflateRawSync } from "node:zlib";
import { assert, assertEquals } from "./helpers/assert.ts";
import { tempDir } from "./helpers/temp.ts";
import { EntryDataError, type EntrySpan, readEntry } from "../lib/zip_data.ts";
import { ZipWriter } from "../lib/zip_writer.ts";
import { openFilesZip } from "../lib/backup/archive.ts";

/** Text that deflates well, `size` bytes. */
function text(size: number, seed: number): Uint8Array {
  const line = new TextEncoder().encode(`line ${seed}: lorem ipsum dolor sit amet\n`);
  const out = new Uint8Array(size);
  for (let at = 0; at < size; at += line.length) out.set(line.subarray(0, size - at), at);
  return out;
}

/** Bytes that do not deflate, `size` of them. */
function noise(size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let at = 0; at < size; at += 65536) crypto.getRandomValues(out.subarray(at, at + 65536));
  return out;
}

/** Writes `bytes` to a file and reads it back as the single entry `span` describes. */
async function read(path: string, bytes: Uint8Array, span: EntrySpan): Promise<Uint8Array[]> {
  await Deno.writeFile(path, bytes);
  using file = await Deno.open(path, { read: true });
  const chunks: Uint8Array[] = [];
  await readEntry(file, span, (chunk) => chunks.push(chunk.slice()));
  return chunks;
}

async function refused(work: Promise<unknown>): Promise<EntryDataError> {
  try {
    await work;
  } catch (error) {
    if (error instanceof EntryDataError) return error;
    throw error;
  }
  throw new Error("expected an EntryDataError");
}

Deno.test("zip entries of every size, deflated and stored, read back byte for byte", async () => {
  await using dir = await tempDir();
  const contents = new Map<string, Uint8Array>([
    ["empty.txt", new Uint8Array(0)],
    ["small.txt", text(4000, 1)],
    ["two-chunks.txt", text(1024 * 1024 + 17, 2)],
    ["large.txt", text(5 * 1024 * 1024 + 3, 3)],
    ["noise.bin", noise(3 * 1024 * 1024 + 5)],
    ["after-large.txt", text(100, 4)],
  ]);
  const zip = `${dir.path}/files.zip`;
  const target = await Deno.open(zip, { write: true, createNew: true });
  try {
    const writer = await ZipWriter.open(target);
    for (const [name, bytes] of contents) {
      const path = `${dir.path}/${name}`;
      await Deno.writeFile(path, bytes);
      const stored = name.endsWith(".bin");
      writer.addFile(name, Deno.openSync(path, { read: true }), { deflate: !stored });
    }
    writer.addBytes("bytes.txt", text(70000, 5));
    contents.set("bytes.txt", text(70000, 5));
    writer.close();
  } finally {
    target.close();
  }
  using archive = await openFilesZip(zip, "test");
  assertEquals(archive.files.map((f) => f.path).sort(), [...contents.keys()].sort());
  for (const file of archive.files) {
    const chunks: Uint8Array[] = [];
    await archive.extract(file, {
      writeSync: (chunk) => (chunks.push(chunk.slice()), chunk.length),
      close() {},
    });
    const expected = contents.get(file.path)!;
    const got = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    chunks.reduce((at, c) => (got.set(c, at), at + c.length), 0);
    assertEquals(got.length, expected.length, file.path);
    assert(got.every((byte, i) => byte === expected[i]), `${file.path} differs`);
  }
});

Deno.test("an entry with bytes after its deflate stream is refused", async () => {
  await using dir = await tempDir();
  const content = text(3 * 1024 * 1024, 6);
  const stream = deflateRawSync(content);
  const bytes = new Uint8Array(stream.length + 4);
  bytes.set(stream);
  bytes.set([1, 2, 3, 4], stream.length);
  const span = {
    start: 0,
    compressedSize: bytes.length,
    uncompressedSize: content.length,
    method: 8,
    crc32: crc32(content),
  };
  await refused(read(`${dir.path}/junk`, bytes, span));
  // Without the extra bytes, the same span reads.
  const chunks = await read(`${dir.path}/clean`, stream, {
    ...span,
    compressedSize: stream.length,
  });
  assertEquals(chunks.reduce((n, c) => n + c.length, 0), content.length);
});

Deno.test("a deflate stream cut short, or not deflate at all, is refused", async () => {
  await using dir = await tempDir();
  const content = text(2 * 1024 * 1024, 7);
  const stream = deflateRawSync(content);
  const base = { start: 0, uncompressedSize: content.length, method: 8, crc32: crc32(content) };
  const cut = stream.subarray(0, stream.length - 100);
  await refused(read(`${dir.path}/cut`, cut, { ...base, compressedSize: cut.length }));
  const garbage = new Uint8Array([0xff, 0xff, 0xff, 0xff, 1, 2, 3]);
  await refused(read(`${dir.path}/garbage`, garbage, { ...base, compressedSize: garbage.length }));
  await refused(read(`${dir.path}/empty`, new Uint8Array(0), { ...base, compressedSize: 0 }));
});

Deno.test("an entry inflating past its recorded size stops soon after it", async () => {
  await using dir = await tempDir();
  // 64 MiB of zeros deflate to about 64 KiB: recorded as 1 MiB.
  const content = new Uint8Array(64 * 1024 * 1024);
  const stream = deflateRawSync(content);
  await Deno.writeFile(`${dir.path}/bomb`, stream);
  using file = await Deno.open(`${dir.path}/bomb`, { read: true });
  let produced = 0;
  const error = await refused(
    readEntry(file, {
      start: 0,
      compressedSize: stream.length,
      uncompressedSize: 1024 * 1024,
      method: 8,
      crc32: crc32(content),
    }, (chunk) => {
      produced += chunk.length;
    }),
  );
  assert(produced > 1024 * 1024 && produced <= 2 * 1024 * 1024, `${produced} bytes produced`);
  assert(error.message.length > 0);
});

// The same tests through the public node:zlib calls: what runs where a runtime lacks the engine's
// internal handle (LOCKSTEP_ZLIB=public takes that path here).
if (Deno.env.get("LOCKSTEP_ZLIB") === undefined) {
  Deno.test("without the reused zlib engine, the public node:zlib calls pass the same tests", async () => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["test", "--no-prompt", "--allow-all", new URL(import.meta.url).pathname],
      env: { LOCKSTEP_ZLIB: "public", NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assertEquals(out.code, 0, text);
    assert(/ok \| 4 passed \| 0 failed/.test(text), text);
  });
}
