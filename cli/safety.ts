/**
 * The change policy's switches, from the flags of `migrate`, `install`,
 * `restore` and `update`: the library backs up and turns maintenance on
 * itself (`lib/guard.ts`); the command line only says `--no-backup`, shows
 * the backup's progress on a terminal, and says where the backup is.
 *
 * @module
 */
import type { SafetyOptions } from "../mod.ts";
import { printError, progress } from "./output.ts";

/** The safety options for a command run with `--no-backup` (or not) and `--json` (or not). */
export function safety(noBackup: boolean, json: boolean): SafetyOptions {
  if (noBackup) return { backup: false };
  return {
    backup: progress(json),
    ...(json ? {} : {
      onBackup: (made: { id: string; path: string }) =>
        printError(`Backed up to ${made.path} (restore with "lockstep restore ${made.id}").`),
    }),
  };
}
