/**
 * Operating-system errors are operator errors (issue 12, item 5): a folder
 * the user cannot write, a read-only or immutable one, a full disk, a
 * command that does not exist. Each is a clear message naming the path, the
 * user and the fix, exit 1, no stack trace, and the app left as it was;
 * nothing reaches the "unexpected error" branch of the error boundary.
 *
 * The tests run as root, which file modes do not stop, so the conditions are
 * made the way root cannot ignore them (see `helpers/system.ts`): the CLI
 * runs as user `nobody` (`runuser`), a folder is bind-mounted read-only or
 * made immutable (`chattr +i`), and the app lives on a small tmpfs filled to
 * the last byte.
 *
 * @module
 */
import { join } from "node:path";
import { backup, explainPermission, LockstepError, migrate } from "../mod.ts";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { BACKENDS, makeApp, type TestApp } from "./helpers/app.ts";
import { pendingRelease } from "./helpers/bundles.ts";
import { type CliResult, documentedFlags, runCli } from "./helpers/cli.ts";
import { tempDir } from "./helpers/temp.ts";
import {
  appTree,
  fill,
  immutable,
  IS_ROOT,
  readOnlyMount,
  runCliAsNobody,
  sh,
  smallDisk,
} from "./helpers/system.ts";

const MIGRATIONS = {
  core: {
    files: {
      "20260101000000_users.sql": "create table users (id integer primary key);\n",
      "20260102000000_names.sql": "alter table users add column name text;\n",
    },
  },
};

/** An operator error: a code other than INTERNAL, no stack trace. */
function assertOperatorError(result: CliResult, what: string): void {
  assert(!/unexpected error/.test(result.stderr), `${what}: ${result.stderr}`);
  assert(!/\n\s+at /.test(result.stderr), `${what}: a stack trace: ${result.stderr}`);
  // 3, 4 and 5 are check's answers; 1 and 2 are errors, which end with their code.
  if (result.code === 1 || result.code === 2) {
    assertMatch(result.stderr, /\[[A-Z_]+\]\s*$/, `${what}: ${result.stderr}`);
  }
}

/**
 * Every command of lockstep, as an operator would run it on `app`, and
 * whether it must write to the app folder to do anything.
 */
function everyCommand(app: TestApp, backupId: string): { args: string[]; writes: boolean }[] {
  const zip = join(app.dir, "updates/pending/testapp-1.1.0.zip");
  const reads = (...args: string[]) => ({ args, writes: false });
  const writes = (...args: string[]) => ({ args, writes: true });
  return [
    reads("check"),
    reads("status"),
    reads("log"),
    reads("migrate", "--dry-run"),
    writes("migrate", "--yes"),
    writes("stamp", "--all", "--yes"),
    writes("new", "core", "more"),
    writes("backup"),
    reads("backups"),
    reads("backup", "verify", backupId),
    writes("backup", "prune"),
    reads("backup", "prune", "--dry-run"),
    writes("restore", backupId, "--yes"),
    reads("install", "--dry-run"),
    writes("install", "--yes"),
    writes("recover"),
    writes("update", "--yes"),
    writes("maintenance", "on"),
    reads("maintenance", "off"),
    reads("maintenance", "status"),
    reads("start", "--ignore", "--", "true"),
    writes("keygen", "--out", join(app.dir, "release.key")),
    reads("bundle", "inspect", zip),
    writes(
      "bundle",
      "create",
      "--from",
      join(app.dir, "app"),
      "--version",
      "1.2.0",
      "--out",
      `${zip}.2`,
    ),
  ];
}

Deno.test({
  name: "as a user who may not write the app root, every command is an operator error; " +
    "the writers say ACCESS_DENIED naming the path, its owner and the fix, and nothing changes",
  ignore: !IS_ROOT,
  async fn() {
    await using app = await makeApp("sqlite", {
      packages: MIGRATIONS,
      files: { "app/main.ts": "console.log('1.0.0');\n" },
    });
    const config = await app.config();
    await migrate(config, { to: "core/20260101000000_users", backup: false });
    const taken = await backup(config);
    await pendingRelease(app.dir, "1.1.0", { "app/main.ts": "console.log('1.1.0');\n" });
    await sh("chmod", "-R", "a+rX", app.dir);
    const before = await appTree(app.dir);
    const flags = [...documentedFlags(app.dir), "--allow-run=true"];
    for (const { args, writes } of everyCommand(app, taken.id)) {
      const result = await runCliAsNobody(flags, ["--config", app.configPath, ...args]);
      const what = `lockstep ${args.join(" ")}`;
      assertOperatorError(result, what);
      if (!writes) continue;
      assertEquals(result.code, 1, `${what}: ${result.stdout}${result.stderr}`);
      assertMatch(result.stderr, /\[ACCESS_DENIED\]/, what);
      assertMatch(result.stderr, new RegExp(`^lockstep: Cannot .*"${app.dir}`), what);
      assertMatch(result.stderr, /(permission denied|may not write it).* for the user running/);
      assertMatch(result.stderr, /belongs to uid 0 \(mode \d{4}\)\. Run lockstep as uid 0/, what);
      assertEquals(await appTree(app.dir), before, `${what} changed the app`);
    }
  },
});

Deno.test({
  name: "an updates folder owned by another user: migrate and maintenance on say ACCESS_DENIED " +
    "naming that folder, the user's uid (with --allow-sys=uid) and the owner",
  ignore: !IS_ROOT,
  async fn() {
    await using app = await makeApp("sqlite", { packages: MIGRATIONS });
    await Deno.mkdir(join(app.dir, "updates"));
    await sh("chown", "-R", "nobody", app.dir);
    await sh("chown", "root", join(app.dir, "updates"));
    await Deno.chmod(join(app.dir, "updates"), 0o755);
    const flags = [...documentedFlags(app.dir), "--allow-sys=uid"];
    for (const args of [["migrate", "--yes"], ["maintenance", "on"]]) {
      const result = await runCliAsNobody(flags, [...args, "--config", app.configPath]);
      assertEquals(result.code, 1, result.stderr);
      assertOperatorError(result, args.join(" "));
      assertMatch(
        result.stderr,
        new RegExp(
          `Cannot (create folder|write) "${app.dir}/updates/[^"]+": permission denied for the user ` +
            `running lockstep \\(uid 65534\\)\\. "${app.dir}/updates" belongs to uid 0 ` +
            `\\(mode 0755\\)\\. Run lockstep as uid 0, or give uid 65534 access to ` +
            `"${app.dir}/updates" \\(chown or chmod\\)\\. \\[ACCESS_DENIED\\]`,
        ),
      );
    }
    assertEquals(await app.dbs.main!.tables(), [], "nothing was migrated");
  },
});

Deno.test({
  name: "an immutable updates folder and a read-only app root are ACCESS_DENIED with the fix " +
    "that applies (an immutable attribute, a read-only mount), and nothing changes",
  ignore: !IS_ROOT,
  async fn() {
    await using app = await makeApp("sqlite", { packages: MIGRATIONS });
    await Deno.mkdir(join(app.dir, "updates"));
    const flags = [...documentedFlags(app.dir), "--allow-sys=uid"];
    {
      await using _frozen = await immutable(join(app.dir, "updates"));
      const result = await runCli(flags, ["maintenance", "on", "--config", app.configPath]);
      assertEquals(result.code, 1, result.stderr);
      assertOperatorError(result, "maintenance on");
      assertMatch(result.stderr, /operation not permitted for the user running lockstep \(uid 0\)/);
      assertMatch(result.stderr, /an immutable attribute refuses it \(see "mount" and "lsattr -d/);
    }
    const before = await appTree(app.dir);
    {
      await using _readOnly = await readOnlyMount(app.dir);
      for (const args of [["migrate", "--yes"], ["maintenance", "on"], ["new", "core", "x"]]) {
        const result = await runCli(flags, [...args, "--config", app.configPath]);
        assertEquals(result.code, 1, result.stderr);
        assertOperatorError(result, args.join(" "));
        assertMatch(result.stderr, /is on a read-only file system .*Remount it read-write/);
        assertMatch(result.stderr, /\[ACCESS_DENIED\]/);
      }
    }
    assertEquals(await appTree(app.dir), before);
  },
});

Deno.test({
  name: "a full disk is DISK_FULL naming the path for every command that writes, and leaves " +
    "no temp file, partial backup or half-written migration behind",
  ignore: !IS_ROOT,
  async fn() {
    await using built = await makeApp("sqlite", {
      packages: MIGRATIONS,
      files: { "app/main.ts": "console.log('1.0.0');\n" },
    });
    await using disk = await smallDisk(1024);
    await sh("cp", "-a", `${built.dir}/.`, disk.path);
    const configPath = join(disk.path, "lockstep.json");
    await pendingRelease(disk.path, "1.1.0", { "app/main.ts": "console.log('1.1.0');\n" });
    const flags = documentedFlags(disk.path);
    const first = await runCli(flags, [
      "migrate",
      "--yes",
      "--no-backup",
      "--to",
      "core/20260101000000_users",
      "--config",
      configPath,
    ]);
    assertEquals(first.code, 0, first.stderr);
    await fill(disk.path);
    const before = await appTree(disk.path);
    const commands = [
      ["maintenance", "on"],
      ["migrate", "--yes"],
      ["migrate", "--yes", "--no-backup"],
      ["backup"],
      ["new", "core", "more"],
      ["update", "--yes"],
      ["install", "--yes"],
      ["keygen", "--out", join(disk.path, "release.key")],
    ];
    for (const args of commands) {
      const result = await runCli(flags, [...args, "--config", configPath]);
      const what = `lockstep ${args.join(" ")}`;
      assertEquals(result.code, 1, `${what}: ${result.stdout}${result.stderr}`);
      assertOperatorError(result, what);
      assertMatch(result.stderr, /the disk is full/, what);
      assertMatch(result.stderr, /\bDISK_FULL\b/, what);
      assertMatch(result.stderr, new RegExp(`"?${disk.path}`), `${what} names no path`);
      assertEquals(await appTree(disk.path), before, `${what} left something behind`);
    }
  },
});

for (const backend of BACKENDS) {
  Deno.test(`start with a command that does not exist, or may not be executed, is COMMAND_NOT_FOUND, exit 1, no stack (${backend})`, async () => {
    await using app = await makeApp(backend, { packages: MIGRATIONS });
    const flags = documentedFlags(app.dir, {
      write: false,
      postgres: backend === "postgres" ? [app.dbs.main!.url] : [],
    });
    await migrate(await app.config(), { backup: false });
    const plain = join(app.dir, "notes.txt");
    await Deno.writeTextFile(plain, "not a program\n", { mode: 0o644 });
    const cases: [string, RegExp][] = [
      ["lockstep-no-such-program", /no such program on the PATH/],
      [plain, /not an executable program for the user running lockstep/],
    ];
    for (const [program, state] of cases) {
      const result = await runCli([...flags, `--allow-run=${program}`], [
        "start",
        "--config",
        app.configPath,
        "--",
        program,
      ]);
      assertEquals(result.code, 1, result.stderr);
      assertOperatorError(result, program);
      assertMatch(result.stderr, new RegExp(`Cannot start "${program}": `));
      assertMatch(result.stderr, state);
      assertMatch(result.stderr, /\[COMMAND_NOT_FOUND\]/);
    }
  });
}

Deno.test("explainPermission() words operating-system errors by their code, naming the path", async () => {
  await using dir = await tempDir();
  const os = (code: string, message: string, type: new (message: string) => Error = Error) =>
    Object.assign(new type(message), { code });
  const folder = join(dir.path, "updates");
  const cases: [Error, string, RegExp][] = [
    [
      os(
        "EACCES",
        `Permission denied (os error 13): mkdir '${folder}'`,
        Deno.errors.PermissionDenied,
      ),
      "ACCESS_DENIED",
      new RegExp(`^Cannot create folder "${folder}": permission denied for the user running`),
    ],
    [
      os("EROFS", `Read-only file system (os error 30): writefile '${folder}/x'`),
      "ACCESS_DENIED",
      /"[^"]+\/updates\/x" is on a read-only file system/,
    ],
    [
      os("ENOSPC", `No space left on device (os error 28): rename '${folder}/a' -> '${folder}/b'`),
      "DISK_FULL",
      /^Cannot move "[^"]+\/a" to "[^"]+\/b": the disk is full/,
    ],
    [
      os(
        "ENOENT",
        `No such file or directory (os error 2): open '${folder}/x'`,
        Deno.errors.NotFound,
      ),
      "FILE_NOT_FOUND",
      /^Cannot open "[^"]+\/updates\/x": the folder "[^"]+\/updates" does not exist\. Create/,
    ],
    [
      os(
        "ENOENT",
        `No such file or directory (os error 2): open '${dir.path}/lockstep.json'`,
        Deno.errors.NotFound,
      ),
      "FILE_NOT_FOUND",
      /^Cannot open "[^"]+\/lockstep.json": "[^"]+\/lockstep.json" does not exist\. Create/,
    ],
    [
      os("ENOTDIR", `Not a directory (os error 20): mkdir '${folder}/x/y'`),
      "IO_FAILED",
      /^Cannot create folder "[^"]+": the operating system said "not a directory" \(ENOTDIR\)/,
    ],
    [
      os("EACCES", `EACCES: permission denied, open '${folder}/state.json'`),
      "ACCESS_DENIED",
      /^Cannot open "[^"]+\/state.json": permission denied/,
    ],
    [
      os("ERR_SQLITE_ERROR", "database or disk is full"),
      "DISK_FULL",
      /^Cannot write the database: the disk is full/,
    ],
  ];
  for (const [error, code, pattern] of cases) {
    const explained = explainPermission(error, "write the database");
    assert(explained instanceof LockstepError, `${error.message} was not explained`);
    assertEquals(explained.code, code, error.message);
    assertMatch(explained.message, pattern);
    assertEquals(explained.cause, error);
  }
  const bug = new TypeError("x is not a function");
  assertEquals(explainPermission(bug, "run"), bug, "anything else is left as it is");
});
