/**
 * Runs the CLI as a real subprocess with `--no-prompt` and exactly the
 * permission flags the README documents.
 *
 * @module
 */
import { fileURLToPath } from "node:url";

/** The path of cli.ts. */
export const CLI = fileURLToPath(new URL("../../cli.ts", import.meta.url));

/** What a CLI run printed and how it exited. */
export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * The README's flags for an app whose config, root, updates folder and SQLite
 * files all live in `dir`; PostgreSQL URLs add `--allow-net` for their host
 * and `--allow-env=PGAPPNAME`.
 */
export function documentedFlags(
  dir: string,
  options: { write?: boolean; postgres?: readonly string[] } = {},
): string[] {
  const { write = true, postgres = [] } = options;
  const flags = [`--allow-read=${dir}`];
  if (write) flags.push(`--allow-write=${dir}`);
  if (postgres.length > 0) {
    const hosts = [...new Set(postgres.map((url) => new URL(url).host))];
    flags.push(`--allow-net=${hosts.join(",")}`, "--allow-env=PGAPPNAME");
  }
  return flags;
}

/** Runs `cli.ts` with `flags` and `args` in `cwd`. */
export function runCli(
  flags: readonly string[],
  args: readonly string[],
  options: { cwd?: string; env?: Record<string, string>; stdin?: "null" | "piped" } = {},
): Promise<CliResult> {
  return runDeno(["run", "--no-prompt", "--quiet", ...flags, CLI, ...args], options);
}

/** Runs `deno` with `args` and collects what it printed. */
export async function runDeno(
  args: readonly string[],
  options: { cwd?: string; env?: Record<string, string>; stdin?: "null" | "piped" } = {},
): Promise<CliResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [...args],
    ...(options.cwd ? { cwd: options.cwd } : {}),
    env: { NO_COLOR: "1", ...options.env },
    stdin: options.stdin ?? "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

/** Starts `cli.ts` without waiting, for concurrency tests. */
export function spawnCli(
  flags: readonly string[],
  args: readonly string[],
  options: { cwd?: string } = {},
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "--quiet", ...flags, CLI, ...args],
    ...(options.cwd ? { cwd: options.cwd } : {}),
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}
