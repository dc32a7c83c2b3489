// Every hostile bundle is refused before the first write, with its own error
// code; the app root stays byte-for-byte unchanged and the bundle stays in
// pending/. Each case builds its own fixture (see helpers/hostile.ts).
import { assertEquals } from "./helpers/assert.ts";
import { makeApp } from "./helpers/app.ts";
import { patchBytes, writeBundle, writeZip } from "./helpers/bundles.ts";
import {
  BASE_FILES,
  bundle,
  GOOD,
  hostile,
  requireSignatures,
  trusted,
  zipOf,
} from "./helpers/hostile.ts";
import { tempDir } from "./helpers/temp.ts";
import { check, install } from "../mod.ts";

// Paths
for (
  const [label, path] of [
    ["a path with ..", "../escape.ts"],
    ["an absolute path", "/etc/passwd"],
    ["a drive-letter path", "C:/windows/x"],
    ["a UNC path", "//server/share/x"],
    ["a backslash", "app\\main.ts"],
    ["a . component", "app/./main.ts"],
    ["an empty component", "app//main.ts"],
    ["a NUL character", "app/ma\u0000in.ts"],
    ["a control character", "app/ma\u001bin.ts"],
  ] as const
) {
  hostile(`${label} in the manifest`, {
    code: "BUNDLE_PATH_UNSAFE",
    build: bundle({ files: { [path]: "x" } }),
  });
}
hostile("a zip entry with ..", { code: "BUNDLE_PATH_UNSAFE", build: zipOf(["files/../x"]) });
hostile("duplicate zip entries", {
  code: "BUNDLE_PATH_COLLISION",
  build: async (path) => {
    await writeBundle(path, { ...GOOD, files: { "app/aa.ts": "1", "app/ab.ts": "2" } });
    await patchBytes(path, "files/app/ab.ts", "files/app/aa.ts");
  },
});
hostile("names that collide by case", {
  code: "BUNDLE_PATH_COLLISION",
  build: bundle({ files: { "app/Main.ts": "1", "app/main.ts": "2" } }),
});
hostile("names that collide by Unicode normalisation", {
  code: "BUNDLE_PATH_COLLISION",
  build: bundle({ files: { "app/caf\u00e9.ts": "1", "app/cafe\u0301.ts": "2" } }),
});

// Entry types
hostile("a symlink entry", {
  code: "BUNDLE_ENTRY_UNSUPPORTED",
  build: bundle({ entryOptions: { "app/main.ts": { unixMode: 0o120777 } } }),
});
hostile("a device entry", {
  code: "BUNDLE_ENTRY_UNSUPPORTED",
  build: bundle({ entryOptions: { "app/main.ts": { unixMode: 0o020644 } } }),
});
hostile("a FIFO entry (as a hard link or special file would be)", {
  code: "BUNDLE_ENTRY_UNSUPPORTED",
  build: bundle({ entryOptions: { "app/main.ts": { unixMode: 0o010644 } } }),
});
hostile("an encrypted entry", {
  code: "BUNDLE_ENTRY_UNSUPPORTED",
  build: bundle({ entryOptions: { "app/main.ts": { password: "secret" } } }),
});
hostile("an unsupported compression method", {
  code: "BUNDLE_ENTRY_UNSUPPORTED",
  build: async (path) => {
    await writeBundle(path, { ...GOOD, entryOptions: { "app/main.ts": { level: 0 } } });
    const bytes = await Deno.readFile(path);
    // Set the method field (offset 8 in local headers, 10 in central ones) of the stored entry to 12 (bzip2).
    const name = new TextEncoder().encode("files/app/main.ts");
    for (let i = 0; i < bytes.length - 4; i++) {
      const local = bytes[i] === 0x50 && bytes[i + 1] === 0x4b && bytes[i + 2] === 3 &&
        bytes[i + 3] === 4;
      const central = bytes[i] === 0x50 && bytes[i + 1] === 0x4b && bytes[i + 2] === 1 &&
        bytes[i + 3] === 2;
      if (!local && !central) continue;
      const nameAt = i + (local ? 30 : 46);
      if (name.every((b, j) => bytes[nameAt + j] === b)) bytes[i + (local ? 8 : 10)] = 12;
    }
    await Deno.writeFile(path, bytes);
  },
});

// Through the app root
hostile("a write through a symlink already in the app root", {
  checkSees: false,
  code: "BUNDLE_PATH_UNSAFE",
  setup: async (app) => {
    await Deno.mkdir(`${app.dir}/outside`);
    await Deno.symlink(`${app.dir}/outside`, `${app.dir}/app/linked`);
  },
  build: bundle({ files: { "app/linked/evil.ts": "x" } }),
});
hostile("a write to a protected path", {
  code: "BUNDLE_PROTECTED_PATH",
  extra: { protect: ["config/local.json"] },
  build: bundle({ files: { "config/local.json": "{}" } }),
});
hostile("a removal of a protected path", {
  code: "BUNDLE_PROTECTED_PATH",
  extra: { protect: ["config/**"] },
  build: bundle({ remove: ["config/local.json"] }),
});
hostile("a write to lockstep.json", {
  code: "BUNDLE_PROTECTED_PATH",
  build: bundle({ files: { "lockstep.json": "{}" } }),
});
hostile("a write into the updates folder", {
  code: "BUNDLE_PROTECTED_PATH",
  build: bundle({ files: { "updates/state.json": "{}" } }),
});

// Contents against the manifest
hostile("a zip entry the manifest does not list", {
  code: "BUNDLE_CONTENT_MISMATCH",
  build: bundle({ extra: [{ name: "files/app/extra.ts", data: "x" }] }),
});
hostile("a manifest file missing from the zip", {
  code: "BUNDLE_CONTENT_MISMATCH",
  build: bundle({ omit: ["app/main.ts"] }),
});
hostile("a file whose SHA-256 differs from the manifest", {
  checkSees: false,
  code: "BUNDLE_CONTENT_MISMATCH",
  build: bundle({ manifest: { files: { "app/main.ts": { sha256: "0".repeat(64), size: 22 } } } }),
});
hostile("a file whose size differs from the manifest", {
  code: "BUNDLE_CONTENT_MISMATCH",
  build: bundle({ manifest: { files: { "app/main.ts": { sha256: "0".repeat(64), size: 5 } } } }),
});
hostile("an entry outside files/", {
  code: "BUNDLE_CONTENT_MISMATCH",
  build: bundle({ extra: [{ name: "other/x", data: "x" }] }),
});

// Broken zips
hostile("a truncated zip", {
  code: "BUNDLE_CORRUPT",
  build: async (path) => {
    await writeBundle(path, GOOD);
    const bytes = await Deno.readFile(path);
    await Deno.writeFile(path, bytes.subarray(0, bytes.length - 30));
  },
});
hostile("bytes prepended", {
  code: "BUNDLE_CORRUPT",
  build: async (path) => {
    await writeBundle(path, GOOD);
    await Deno.writeFile(
      path,
      new Uint8Array([
        ...new TextEncoder().encode("#!/bin/sh\nexit 0\n"),
        ...await Deno.readFile(path),
      ]),
    );
  },
});
hostile("bytes appended", {
  code: "BUNDLE_CORRUPT",
  build: async (path) => {
    await writeBundle(path, GOOD);
    await Deno.writeFile(path, new Uint8Array([...await Deno.readFile(path), 1, 2, 3, 4]));
  },
});
hostile("a CRC mismatch", {
  checkSees: false,
  code: "BUNDLE_CORRUPT",
  build: async (path) => {
    await writeBundle(path, { ...GOOD, entryOptions: { "app/main.ts": { level: 0 } } });
    await patchBytes(path, "console.log('1.1.0')", "console.log('6.6.6')");
  },
});
hostile("a file that is not a zip", {
  code: "BUNDLE_CORRUPT",
  build: (path) => Deno.writeTextFile(path, "not a zip"),
});

// Bombs
hostile("a compression bomb by ratio (counted on produced bytes)", {
  checkSees: false,
  code: "BUNDLE_TOO_LARGE",
  build: bundle({ files: { "app/zeros.bin": new Uint8Array(8 * 1024 * 1024) } }),
});
hostile("a bundle over the total size limit", {
  code: "BUNDLE_TOO_LARGE",
  extra: { limits: { totalBytes: 1000 } },
  build: bundle({ files: { "app/big.txt": "x".repeat(5000) } }),
});
hostile("an entry-count bomb", {
  code: "BUNDLE_TOO_LARGE",
  extra: { limits: { entries: 10 } },
  build: bundle({
    files: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`app/f${i}.ts`, `${i}`])),
  }),
});

// Manifests
hostile("a missing manifest", {
  code: "BUNDLE_MANIFEST_INVALID",
  build: (path) => writeZip(path, [{ name: "files/app/x.ts", data: "x" }]),
});
hostile("a malformed manifest", {
  code: "BUNDLE_MANIFEST_INVALID",
  build: bundle({ manifestText: "{ not json" }),
});
hostile("an oversized manifest", {
  code: "BUNDLE_TOO_LARGE",
  extra: { limits: { manifestBytes: 100 } },
  build: bundle({ notes: "n".repeat(500) }),
});
hostile("an unknown manifest format", {
  code: "BUNDLE_MANIFEST_INVALID",
  build: bundle({ manifest: { format: 2 } }),
});
hostile("a manifest for another app", {
  code: "BUNDLE_WRONG_APP",
  build: bundle({ app: "otherapp" }),
});

// Versions and prerequisites
hostile("a version not above the installed one (downgrade)", {
  code: "BUNDLE_VERSION_REFUSED",
  build: bundle({ version: "0.9.0", upgradesFrom: ">=0.1.0" }),
});
hostile("a replay of an old signed bundle below the high-water mark", {
  code: "BUNDLE_VERSION_REFUSED",
  setup: (app) =>
    Deno.mkdir(`${app.dir}/updates`, { recursive: true }).then(() =>
      Deno.writeTextFile(
        `${app.dir}/updates/state.json`,
        JSON.stringify({ installed: "1.0.0", highWater: "1.2.0", history: [] }),
      )
    ),
  build: bundle({}),
});
hostile("upgradesFrom that does not match", {
  code: "BUNDLE_NOT_APPLICABLE",
  build: bundle({ upgradesFrom: ">=1.0.5 <1.1.0" }),
});
hostile("requires that are not met", {
  code: "BUNDLE_REQUIREMENT_UNMET",
  build: bundle({ manifest: { requires: { deno: ">=99" } } }),
});

// Signatures, when required
hostile("a missing signature when signatures are required", {
  code: "BUNDLE_SIGNATURE_INVALID",
  setup: async (app, work) => await requireSignatures(app, [(await trusted(work)).entry]),
  build: bundle({}),
});
hostile("a malformed signature", {
  code: "BUNDLE_SIGNATURE_INVALID",
  setup: async (app, work) => await requireSignatures(app, [(await trusted(work)).entry]),
  build: bundle({ signature: "{ nope" }),
});
hostile("a signature by an untrusted key", {
  code: "BUNDLE_SIGNATURE_INVALID",
  setup: async (app, work) => await requireSignatures(app, [(await trusted(work)).entry]),
  build: async (path, _app, work) =>
    await writeBundle(path, { ...GOOD, signWith: (await trusted(work, "stranger")).keyFile }),
});
hostile("a wrong signature (trusted key id, other key's signature)", {
  code: "BUNDLE_SIGNATURE_INVALID",
  setup: async (app, work) => {
    const good = await trusted(work);
    await Deno.writeTextFile(`${work}/trusted-id`, good.entry.split(":")[0]!);
    await requireSignatures(app, [good.entry]);
  },
  build: async (path, _app, work) => {
    const other = await trusted(work, "other");
    const key = JSON.parse(await Deno.readTextFile(other.keyFile));
    key.key = await Deno.readTextFile(`${work}/trusted-id`);
    await Deno.writeTextFile(other.keyFile, JSON.stringify(key));
    await writeBundle(path, { ...GOOD, signWith: other.keyFile });
  },
});
hostile("a pending file name that is itself hostile", {
  code: "BUNDLE_NAME_UNSAFE",
  file: "evil\nname;rm -rf.zip",
  build: bundle({}),
});

Deno.test("a signed bundle by a trusted key installs when signatures are required", async () => {
  await using work = await tempDir();
  await using app = await makeApp("sqlite", { packages: {}, files: BASE_FILES });
  const key = await trusted(work.path);
  await requireSignatures(app, [key.entry]);
  await Deno.mkdir(`${app.dir}/updates/pending`, { recursive: true });
  await writeBundle(`${app.dir}/updates/pending/testapp-1.1.0.zip`, {
    ...GOOD,
    signWith: key.keyFile,
  });
  const result = await install(await app.config());
  assertEquals(result.refused, []);
  assertEquals(result.installed.map((b) => b.version), ["1.1.0"]);
});

Deno.test("a bad bundle does not hide the good ones from check", async () => {
  await using app = await makeApp("sqlite", { packages: {}, files: BASE_FILES });
  const pending = `${app.dir}/updates/pending`;
  await Deno.mkdir(pending, { recursive: true });
  await writeBundle(`${pending}/testapp-1.1.0.zip`, {
    ...GOOD,
    security: true,
    notes: "Fixes a hole",
  });
  await Deno.writeTextFile(`${pending}/testapp-1.2.0.zip`, "garbage");
  const report = await check(await app.config());
  assertEquals(report.exitCode, 3);
  const good = report.bundles.find((b) => b.file === "testapp-1.1.0.zip")!;
  assertEquals([good.applies, good.security, good.notes, good.version], [
    true,
    true,
    "Fixes a hole",
    "1.1.0",
  ]);
  assertEquals(
    report.bundles.find((b) => b.file === "testapp-1.2.0.zip")!.problem?.code,
    "BUNDLE_CORRUPT",
  );
});
