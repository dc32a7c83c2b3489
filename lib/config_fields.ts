/**
 * Reading typed fields out of parsed `lockstep.json`: each reader takes the
 * value, the key it came from (`"backup.keep"`) and a `fail` that throws the
 * config's error, so every message names the key and what is wrong with it.
 * Unknown keys are refused with the nearest known one ("did you mean").
 *
 * @module
 */

/** Throws the config's error for `what` (worded to follow "Cannot use config …: "). */
export type Fail = (what: string) => never;

/** The value as an object (not null, not a list). */
export function object(value: unknown, where: string, fail: Fail): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return fail(`${place(where)} must be an object`);
  }
  return value as Record<string, unknown>;
}

/** Refuses any key of `value` not in `known`, naming the nearest known one. */
export function onlyKeys(
  value: Record<string, unknown>,
  where: string,
  known: readonly string[],
  fail: Fail,
): void {
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue;
    const near = known.find((k) => distance(k.toLowerCase(), key.toLowerCase()) <= 2);
    const hint = near === undefined ? "" : ` (did you mean "${near}"?)`;
    fail(`unknown key "${key}" at ${place(where)}${hint}`);
  }
}

/** A non-empty string. */
export function string(value: unknown, key: string, fail: Fail): string {
  if (typeof value !== "string" || value === "") return fail(`"${key}" must be a non-empty string`);
  return value;
}

/** A list of non-empty strings. */
export function strings(value: unknown, key: string, fail: Fail): string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string" && v !== "")) {
    return fail(`"${key}" must be a list of non-empty strings`);
  }
  return value as string[];
}

/** `true` or `false`. */
export function boolean(value: unknown, key: string, fail: Fail): boolean {
  if (typeof value !== "boolean") return fail(`"${key}" must be true or false`);
  return value;
}

/** A whole number of at least `min`. */
export function integer(value: unknown, key: string, min: number, fail: Fail): number {
  if (!Number.isSafeInteger(value) || (value as number) < min) {
    return fail(`"${key}" must be a whole number of at least ${min}`);
  }
  return value as number;
}

function place(where: string): string {
  return where === "the top level" ? where : `"${where}"`;
}

/** Levenshtein distance, for "did you mean" hints on unknown keys. */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + cost);
    }
    row = next;
  }
  return row[b.length]!;
}
