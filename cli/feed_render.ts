/**
 * How `feed check` and `feed status` show a feed's entries: installed →
 * offered, the security level for this version, when it was released, its
 * notes and database changes, size and requirements, and why an entry does
 * not apply. Notes are untrusted text: printed as plain lines, each behind
 * a `|` gutter (the index has refused control characters).
 *
 * @module
 */
import type { EntryStatus } from "../mod.ts";
import { megabytes, print } from "./output.ts";

function size(bytes: number): string {
  return bytes < 1e6 ? `${(bytes / 1e3).toFixed(1)} kB` : megabytes(bytes);
}

/** Prints each entry, updates first. */
export function renderEntries(entries: readonly EntryStatus[]): void {
  const order = ["update", "held", "not-applicable", "below-high-water", "not-installed"];
  const shown = entries.filter((s) => order.includes(s.state) || s.state === "other-source")
    .sort((a, b) => rank(a, order) - rank(b, order));
  for (const status of shown) renderEntry(status);
  const quiet = entries.length - shown.length;
  if (quiet > 0) print(`  (${quiet} older or installed release(s) not shown)`);
}

function rank(status: EntryStatus, order: readonly string[]): number {
  const at = order.indexOf(status.state);
  return at === -1 ? order.length : at;
}

function renderEntry(status: EntryStatus): void {
  const { entry } = status;
  const what = `${status.kind === "pack" ? "pack " : ""}${status.name} ${
    status.installed ?? "(not installed)"
  } → ${status.offered}`;
  const flag = status.security
    ? ` [security: ${status.security.level}${
      status.security.applies ? "" : ", not for this version"
    }${status.security.advisories.length > 0 ? `, ${status.security.advisories.join(", ")}` : ""}]`
    : "";
  const label = status.state === "update" ? "" : `${status.state}: `;
  print(`  ${label}${what}${flag}`);
  const facts = [
    entry.released ? `released ${entry.released}` : "",
    size(entry.size),
    ...Object.entries(entry.requires).map(([name, range]) => `requires ${name} ${range}`),
  ].filter((f) => f !== "");
  print(`    ${facts.join(", ")}`);
  if (status.reason !== null) print(`    why: ${status.reason}`);
  const notes = entry.notes.replace(/\s+$/, "");
  if (notes !== "") print(notes.replace(/^/gm, "    | "));
  for (const line of entry.database) print(`    database: ${line}`);
}
