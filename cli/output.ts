// deno-lint-ignore-file no-console
/**
 * Everything the command line prints goes through here: text lines for
 * people, one redacted JSON document for machines (`--json`), progress on a
 * terminal, the confirmation question, and {@link fail}, the one error
 * boundary that turns any error into a message and an exit code.
 *
 * @module
 */
import type { BackupProgress, MigrateEvent } from "../mod.ts";
import { exitCodeFor, explainPermission, LockstepError } from "../lib/errors.ts";
import { redact } from "../lib/redact.ts";

/** Prints a line on stdout. */
export function print(line: string): void {
  console.log(line);
}

/** Prints a line on stderr. */
export function printError(line: string): void {
  console.error(line);
}

/** Prints `value` as one JSON document on stdout, credentials masked. */
export function printJson(value: unknown): void {
  console.log(redact(JSON.stringify(value, null, 2)));
}

/** `12.3 MB`. */
export function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/**
 * Progress on stderr when it is a terminal (bytes, files and rate, at most
 * ten updates a second); nothing in pipes or with `--json`.
 */
export function progress(
  json: boolean,
): { onProgress?: (event: BackupProgress | { phase: "restore" }) => void } {
  if (json || !Deno.stderr.isTerminal()) return {};
  const started = performance.now();
  let last = 0;
  const encoder = new TextEncoder();
  const onProgress = (event: BackupProgress | { phase: "restore" }) => {
    if (event.phase === "restore") return;
    const now = performance.now();
    let line: string;
    if (event.phase === "files") {
      if (now - last < 100 && event.files !== event.totalFiles) return;
      const rate = event.bytes / 1e6 / Math.max(0.001, (now - started) / 1000);
      line = `files ${event.files}/${event.totalFiles}, ${megabytes(event.bytes)} of ${
        megabytes(event.totalBytes)
      }, ${rate.toFixed(1)} MB/s`;
    } else if (event.phase === "database") line = `database ${event.database}`;
    else line = `verifying ${event.artifact}`;
    last = now;
    Deno.stderr.writeSync(encoder.encode(`\r\x1b[K${line}`));
    if (event.phase !== "files" || event.files === event.totalFiles) {
      Deno.stderr.writeSync(encoder.encode("\n"));
    }
  };
  return { onProgress };
}

/**
 * A download's progress on stderr when it is a terminal (bytes of total and
 * rate, at most ten updates a second, a new line when one is complete);
 * nothing in pipes or with `--json`.
 */
export function downloadProgress(
  json: boolean,
): ((event: { file: string; bytes: number; total: number }) => void) | undefined {
  if (json || !Deno.stderr.isTerminal()) return undefined;
  const encoder = new TextEncoder();
  const started = new Map<string, number>();
  let last = 0;
  return ({ file, bytes, total }) => {
    const now = performance.now();
    if (!started.has(file)) started.set(file, now);
    if (now - last < 100 && bytes !== total) return;
    last = now;
    const rate = bytes / 1e6 / Math.max(0.001, (now - started.get(file)!) / 1000);
    const line = `downloading ${file}: ${megabytes(bytes)} of ${megabytes(total)}, ${
      rate.toFixed(1)
    } MB/s`;
    Deno.stderr.writeSync(encoder.encode(`\r\x1b[K${line}${bytes === total ? "\n" : ""}`));
  };
}

/** Prints each migration step as it happens (`migrate` and `update` without `--json`). */
export function renderProgress(event: MigrateEvent): void {
  if (event.type === "done") {
    print(`applied ${event.migration.id} (${Math.round(event.durationMs)} ms)`);
  } else if (event.type === "skipped") {
    print(`skipped ${event.migration.id}: ${event.reason}`);
  } else if (event.type === "log") print(`  ${event.migration.id}: ${event.message}`);
}

/**
 * `--yes` goes ahead; a terminal is asked; anything else (a pipe, `--json`)
 * is refused with `CONFIRMATION_REQUIRED`, naming `--yes`: unattended runs
 * must say so.
 */
export function confirmOrRefuse(
  action: string,
  ids: readonly string[],
  mode: { readonly yes: boolean; readonly json: boolean },
  show: () => void = () => ids.forEach((id) => print(`  ${id}`)),
): Promise<boolean> {
  if (mode.yes) return Promise.resolve(true);
  if (mode.json || !Deno.stdin.isTerminal()) {
    throw new LockstepError(
      "CONFIRMATION_REQUIRED",
      `Cannot ${action}: it needs a confirmation, and there is no terminal to ask on. ` +
        `Pass --yes to go ahead unattended. Nothing was changed.`,
      { data: { ids: [...ids] } },
    );
  }
  show();
  return Promise.resolve(confirm(`${action[0]!.toUpperCase()}${action.slice(1)}?`));
}

/**
 * The one error boundary: a missing permission becomes `PERMISSION_DENIED`
 * naming its flag, and an operating-system error (a folder this user may not
 * write, a full disk, a missing path) the operator error that names the path,
 * the user and the fix (`explainPermission`); a `LockstepError` prints
 * `lockstep: <message> [CODE]` (or `{"ok": false, "error": {code, message,
 * data}}` with `--json`); anything else is unexpected (a bug) and keeps its
 * stack. Returns the exit code.
 */
export function fail(error: unknown, json: boolean): number {
  const explained = explainPermission(error, "run lockstep");
  const code = exitCodeFor(explained);
  if (explained instanceof LockstepError) {
    const message = redact(explained.message);
    if (json) {
      printJson({ ok: false, error: { code: explained.code, message, data: explained.data } });
    } else printError(`lockstep: ${message} [${explained.code}]`);
  } else {
    const message = redact(
      explained instanceof Error ? explained.stack ?? explained.message : String(explained),
    );
    if (json) printJson({ ok: false, error: { code: "INTERNAL", message } });
    else printError(`lockstep: unexpected error: ${message}`);
  }
  return code;
}
