/**
 * Verdicts on pending bundles found unusable only when read whole (a
 * damaged entry, a wrong SHA-256): install and update record them, so that
 * `check`, which reads only the central directory and the manifest at every
 * start, reports such a bundle as invalid (a warning) instead of pending
 * forever. A verdict holds while the file keeps its size and modification
 * time: a replaced file is judged afresh.
 *
 * @module
 */
import { join } from "node:path";
import type { Config } from "../config.ts";
import type { ErrorCode } from "../errors.ts";
import { writeFileAtomic } from "../files.ts";
import { workFolder } from "../oplock.ts";

/** Why a bundle file was refused, and which file it was (size and time). */
interface Verdict {
  readonly size: number;
  readonly mtimeMs: number;
  readonly code: ErrorCode;
  readonly message: string;
}

function verdictsPath(config: Pick<Config, "updates">): string {
  return join(workFolder(config), "verdicts.json");
}

/** The recorded verdicts by file name; none when the file is missing. */
function readVerdicts(config: Pick<Config, "updates">): Record<string, Verdict> {
  try {
    return JSON.parse(Deno.readTextFileSync(verdictsPath(config)));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return {};
    // A damaged verdicts file is only a hint lost: bundles are judged afresh.
    if (error instanceof SyntaxError) return {};
    throw error;
  }
}

/** The identity of a bundle file: its size and modification time, or `undefined` when it is gone. */
function identity(path: string): { size: number; mtimeMs: number } | undefined {
  try {
    const info = Deno.statSync(path);
    return { size: info.size, mtimeMs: info.mtime?.getTime() ?? 0 };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/** Records that `bundle` was refused when read whole. */
export async function recordVerdict(
  config: Pick<Config, "updates">,
  bundle: { readonly file: string; readonly path: string },
  problem: { code: ErrorCode; message: string },
): Promise<void> {
  const id = identity(bundle.path);
  if (id === undefined) return;
  const verdicts = readVerdicts(config);
  verdicts[bundle.file] = { ...id, code: problem.code, message: problem.message };
  await Deno.mkdir(workFolder(config), { recursive: true });
  await writeFileAtomic(
    verdictsPath(config),
    new TextEncoder().encode(JSON.stringify(verdicts, null, 2) + "\n"),
  );
}

/** `bundles` with the recorded verdicts applied: a refused file still the same gets its problem. */
export function withVerdicts<
  B extends { file: string; path: string; problem?: { code: ErrorCode; message: string } },
>(config: Pick<Config, "updates">, bundles: readonly B[]): B[] {
  const verdicts = readVerdicts(config);
  if (Object.keys(verdicts).length === 0) return [...bundles];
  return bundles.map((bundle) => {
    const verdict = verdicts[bundle.file];
    if (verdict === undefined || bundle.problem) return bundle;
    const id = identity(bundle.path);
    if (id?.size !== verdict.size || id.mtimeMs !== verdict.mtimeMs) return bundle;
    return { ...bundle, problem: { code: verdict.code, message: verdict.message } };
  });
}
