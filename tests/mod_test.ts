import { assertEquals } from "./helpers/assert.ts";
import * as mod from "../mod.ts";
import { ERROR_CODES } from "../mod.ts";

Deno.test("mod.ts exports exactly the pinned public API", () => {
  assertEquals(Object.keys(mod).sort(), [
    "ERROR_CODES",
    "EXIT",
    "LockstepError",
    "VERSION",
    "backup",
    "buildFeed",
    "check",
    "createBundle",
    "describeDrift",
    "disablePack",
    "enablePack",
    "exitCodeFor",
    "explainPermission",
    "feedCheck",
    "feedFetch",
    "feedStatus",
    "fleetStatus",
    "forgetFleetHost",
    "gate",
    "inspect",
    "install",
    "installPack",
    "isLockstepError",
    "joinFleet",
    "keygen",
    "listBackups",
    "listPacks",
    "loadConfig",
    "log",
    "maintenance",
    "maintenanceOff",
    "maintenanceOn",
    "maintenanceStatus",
    "migrate",
    "newMigration",
    "newRelease",
    "packs",
    "pruneBackups",
    "recover",
    "redact",
    "removePack",
    "renderReport",
    "report",
    "reportHandler",
    "resolveConfig",
    "restore",
    "signFeed",
    "stamp",
    "status",
    "update",
    "verifyBackup",
    "writeReportHtml",
  ]);
});

Deno.test("every error code is listed in the README's error table", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const missing = ERROR_CODES.filter((code) => !readme.includes(`| \`${code}\``));
  assertEquals(missing, []);
});

Deno.test("exitCodeFor() maps usage, lock and other errors", () => {
  assertEquals(mod.exitCodeFor(new mod.LockstepError("CONFIG_INVALID", "x")), 2);
  assertEquals(mod.exitCodeFor(new mod.LockstepError("LOCK_HELD", "x")), 6);
  assertEquals(mod.exitCodeFor(new mod.LockstepError("MIGRATION_FAILED", "x")), 1);
  assertEquals(mod.exitCodeFor(new Error("x")), 1);
});
