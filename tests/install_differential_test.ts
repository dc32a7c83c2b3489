// Archive tricks behind real installer bypasses (parser differentials, the
// "overlapping files" zip bomb) and names a Windows host cannot hold: each is
// refused before the first write with its own code, and `check` reports it.
// Each case builds its own fixture (see helpers/hostile.ts).
import { assertEquals, assertMatch } from "./helpers/assert.ts";
import { type BundleSpec, writeBundle } from "./helpers/bundles.ts";
import { bundle, GOOD, hostile } from "./helpers/hostile.ts";
import { hideBytes, patchZip, zipRecords } from "./helpers/zip_tricks.ts";
import { duplicateKey } from "../lib/strict_json.ts";

const MAIN = "files/app/main.ts";
const TWO = {
  ...GOOD,
  files: { "app/main.ts": "console.log('1.1.0');\n", "app/other.ts": "export const o = 1;\n" },
};

/** Writes {@link TWO} (or `spec`), then patches it. */
const patched = (
  patch: Parameters<typeof patchZip>[1],
  spec: BundleSpec = TWO,
) =>
async (path: string) => {
  await writeBundle(path, spec);
  await patchZip(path, patch);
};

// Local headers that disagree with the central directory
hostile("a local header whose name differs from the central one", {
  code: "BUNDLE_HEADER_MISMATCH",
  build: patched((bytes, _view, records) => {
    const local = records.get(MAIN)!.local;
    bytes.set(new TextEncoder().encode("files/app/evil.ts"), local + 30);
  }),
});
hostile("a local header whose compression method differs", {
  code: "BUNDLE_HEADER_MISMATCH",
  build: patched((_bytes, view, records) => view.setUint16(records.get(MAIN)!.local + 8, 0, true)),
});
hostile("a local header whose flags differ", {
  code: "BUNDLE_HEADER_MISMATCH",
  build: patched((_bytes, view, records) => {
    const at = records.get(MAIN)!.local + 6;
    view.setUint16(at, view.getUint16(at, true) ^ 0x0800, true);
  }),
});
hostile("a data descriptor whose size differs from the central directory", {
  code: "BUNDLE_HEADER_MISMATCH",
  build: patched((_bytes, view, records) => {
    const main = records.get(MAIN)!;
    // After the data: signature, CRC, then zip64 compressed and uncompressed sizes.
    const usize = main.data + main.compressedSize + 4 + 4 + 8;
    view.setBigUint64(usize, view.getBigUint64(usize, true) + 1n, true);
  }),
});
hostile("a local header whose sizes differ (no data descriptor)", {
  code: "BUNDLE_HEADER_MISMATCH",
  build: patched(
    (_bytes, view, records) => {
      // zip.js writes the sizes in a zip64 extra field: its ID and length, then the inflated size.
      const at = records.get(MAIN)!.local + 30 + MAIN.length + 4;
      view.setBigUint64(at, view.getBigUint64(at, true) + 1n, true);
    },
    { ...TWO, entryOptions: { "app/main.ts": { dataDescriptor: false } } },
  ),
});

// Overlapping entries and hidden bytes
hostile("entries whose data overlap (the overlapping-files zip bomb)", {
  code: "BUNDLE_ENTRIES_OVERLAP",
  build: patched((_bytes, view, records) => {
    const other = records.get("files/app/other.ts")!;
    view.setUint32(other.central + 42, records.get(MAIN)!.local, true);
  }),
});
hostile("bytes hidden between two entries", {
  code: "BUNDLE_HIDDEN_DATA",
  build: async (path) => {
    await writeBundle(path, TWO);
    const { records } = zipRecords(await Deno.readFile(path));
    const other = records.find((r) => r.name === "files/app/other.ts")!;
    await hideBytes(path, other.local, new TextEncoder().encode("#!/bin/sh\nrm -rf /\n"));
  },
});
hostile("bytes hidden between the last entry and the central directory", {
  code: "BUNDLE_HIDDEN_DATA",
  build: async (path) => {
    await writeBundle(path, TWO);
    const { directory } = zipRecords(await Deno.readFile(path));
    await hideBytes(path, directory, new Uint8Array(64).fill(0x41));
  },
});

// Duplicate JSON keys
hostile("a bundle.json with a duplicate key", {
  code: "BUNDLE_DUPLICATE_KEY",
  build: bundle({
    manifestText: JSON.stringify({ format: 1, app: "testapp", version: "1.1.0", files: {} })
      .replace('"version":"1.1.0"', '"version":"1.1.0","version":"9.9.9"'),
  }),
});
hostile("a bundle.sig with a duplicate key", {
  code: "BUNDLE_DUPLICATE_KEY",
  build: bundle({ signature: '{"key":"one","key":"two","sig":"AAAA"}' }),
});

// Names a Windows host cannot hold, or would alias
for (
  const [label, path] of [
    ["a reserved device name", "app/CON"],
    ["a device name with an extension", "app/aux.txt"],
    ["a device name in lower case", "app/com1.log"],
    ["LPT9", "app/LPT9.ts"],
    ["a device name as a folder", "nul/x.ts"],
    ["a trailing dot", "app/main."],
    ["a trailing space", "app/main.ts "],
    ["a colon (an alternate data stream)", "app/main.ts:stream"],
    ["a character Windows refuses", "app/what?.ts"],
  ] as const
) {
  hostile(`${label} in the manifest`, {
    code: "BUNDLE_PATH_UNSAFE",
    build: bundle({ files: { [path]: "x" } }),
  });
}
hostile("folders whose names differ only by case", {
  code: "BUNDLE_PATH_COLLISION",
  build: bundle({ files: { "App/one.ts": "1", "app/two.ts": "2" } }),
});
hostile("a removal that aliases a written file by case", {
  code: "BUNDLE_PATH_COLLISION",
  build: bundle({ files: { "app/README.md": "new" }, remove: ["app/readme.md"] }),
});

Deno.test("duplicateKey() names the first repeated key with its path, and nothing else", () => {
  assertEquals(duplicateKey('{"a":1,"b":{"c":[{"x":1},{"x":2,"x":3}]}}'), "b.c[].x");
  assertEquals(duplicateKey('{"files":{"a.ts":{"size":1,"size":2}}}'), 'files["a.ts"].size');
  assertEquals(duplicateKey('{"k\\u0065y":1,"key":2}'), "key", "escapes are decoded");
  assertEquals(duplicateKey('{"a":"\\"a\\":","b":{"a":1},"c":[{"q":1},{"q":1}]}'), undefined);
});

Deno.test("the layout check accepts what zip.js writes, data descriptors or not", async () => {
  // A bundle that mixes both forms reads cleanly: nothing above is a false alarm.
  const { install } = await import("../mod.ts");
  const { makeApp } = await import("./helpers/app.ts");
  await using app = await makeApp("sqlite", { packages: {}, files: {} });
  await Deno.mkdir(`${app.dir}/updates/pending`, { recursive: true });
  await writeBundle(`${app.dir}/updates/pending/testapp-1.1.0.zip`, {
    ...TWO,
    files: { ...TWO.files, "app/caf\u00e9.ts": "unicode\n" },
    entryOptions: { "app/main.ts": { dataDescriptor: false, level: 0 } },
  });
  const result = await install(await app.config(), { backup: false });
  assertEquals(result.refused, []);
  assertMatch(await Deno.readTextFile(`${app.dir}/app/caf\u00e9.ts`), /unicode/);
});
