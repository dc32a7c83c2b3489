/**
 * The crash-test facility behind `LOCKSTEP_FAULT=<step>[:<n>]`: the process
 * exits at once (status 137, no clean-up, as if killed) at the n-th time it
 * passes the named step. The tests use it to prove that every step of
 * install, restore, migrate and update can be interrupted and recovered.
 *
 * It is internal: no public option reaches it, and `mod.ts` does not export
 * it. Beside `loadConfig()`'s default lookup of `passwordEnv` variables
 * (`grantedEnv` in `config.ts`), it is the one place in `lib/` that reads the
 * environment, and only `LOCKSTEP_FAULT`, and only when
 * `--allow-env=LOCKSTEP_FAULT` is granted: a process without that grant can
 * never be made to exit here.
 *
 * @module
 */

let spec: { name: string; count: number } | null | undefined;
const seen = new Map<string, number>();

function read(): { name: string; count: number } | null {
  const granted = Deno.permissions.querySync({ name: "env", variable: "LOCKSTEP_FAULT" });
  const value = granted.state === "granted" ? Deno.env.get("LOCKSTEP_FAULT") : undefined;
  if (value === undefined || value === "") return null;
  // Step names may hold colons themselves (`update:migrate`): only a numeric suffix counts.
  const [, name, count = "1"] = /^(.*?)(?::(\d+))?$/.exec(value)!;
  return { name: name!, count: Number(count) };
}

/** Marks that `step` was reached; exits the process when it is the configured fault. */
export function fault(step: string): void {
  spec ??= read();
  if (spec === null || step !== spec.name) return;
  const n = (seen.get(step) ?? 0) + 1;
  seen.set(step, n);
  if (n === spec.count) Deno.exit(137);
}
