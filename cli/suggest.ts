/**
 * "Did you mean": the known names closest to a mistyped one, by edit
 * distance (insertions, deletions, substitutions and swaps of two adjacent
 * letters each count one, so `mgirate` is one step from `migrate`).
 *
 * @module
 */

/** The optimal-string-alignment distance between `a` and `b`. */
export function editDistance(a: string, b: string): number {
  // rows[i][j]: the distance between the first i letters of a and the first j of b.
  const rows: number[][] = Array.from(
    { length: a.length + 1 },
    (_, i) => Array.from({ length: b.length + 1 }, (_, j) => i === 0 ? j : j === 0 ? i : 0),
  );
  for (let i = 1; i <= a.length; i++) {
    const row = rows[i]!;
    const above = rows[i - 1]!;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(above[j]! + 1, row[j - 1]! + 1, above[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, rows[i - 2]![j - 2]! + 1);
      }
      row[j] = best;
    }
  }
  return rows[a.length]![b.length]!;
}

/**
 * The candidates nearest to `input`, if near enough to be a typo: one edit
 * when either name has up to three letters, else up to a third of the
 * shorter one's length (at least two). Ties are all returned, in the
 * candidates' order.
 */
export function suggest(input: string, candidates: readonly string[]): string[] {
  let best = Infinity;
  let found: string[] = [];
  for (const candidate of new Set(candidates)) {
    // The shorter of the two names sets how far a typo may go: "bogus" is not a typo of "log".
    const length = Math.min(input.length, candidate.length);
    const limit = length <= 3 ? 1 : Math.max(2, Math.floor(length / 3));
    const distance = editDistance(input, candidate);
    if (distance > limit) continue;
    if (distance < best) [best, found] = [distance, [candidate]];
    else if (distance === best) found.push(candidate);
  }
  return found;
}

/** `Did you mean "a"?`, `Did you mean "a" or "b"?`, or "" when there is nothing to offer. */
export function didYouMean(suggestions: readonly string[]): string {
  if (suggestions.length === 0) return "";
  return ` Did you mean ${oneOf(suggestions.map((s) => `"${s}"`))}?`;
}

/** `a`, `a or b`, `a, b or c`. */
export function oneOf(items: readonly string[]): string {
  if (items.length <= 1) return items.join("");
  return `${items.slice(0, -1).join(", ")} or ${items.at(-1)}`;
}
