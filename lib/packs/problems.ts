/**
 * The packs' part of the problem catalogue (`lib/problems.ts`): each state
 * of a pack an operator meets, worded once. `check` reports it
 * (`asProblem`); the refusing command throws it (`refusal`).
 *
 * @module
 */
import type { Finding } from "../problems.ts";

/** An installed, enabled pack whose folder or declaration cannot be used. */
export function packInvalid(message: string, data: Readonly<Record<string, unknown>>): Finding {
  return {
    code: "PACK_INVALID",
    severity: "blocked",
    statement: message.charAt(0).toLowerCase() + message.slice(1),
    fix: "",
    data,
  };
}

/** An installed, enabled pack whose requirements the installed parts do not meet. */
export function packRequirementUnmet(
  name: string,
  version: string,
  unmet: readonly string[],
): Finding {
  return {
    code: "PACK_REQUIREMENT_UNMET",
    severity: "blocked",
    statement: `installed pack "${name}" ${version} requires ${unmet.join(", ")}`,
    fix: `install releases that meet it, or disable the pack with "lockstep pack disable ${name}"`,
    data: { pack: name, version, unmet: [...unmet] },
  };
}

/** Packs (installed, enabled or not) require the pack an operator disables or removes. */
export function packHasDependents(name: string, dependents: readonly string[]): Finding {
  return {
    code: "PACK_HAS_DEPENDENTS",
    severity: "blocked",
    statement: `installed pack(s) ${dependents.map((d) => `"${d}"`).join(", ")} require pack ` +
      `"${name}"`,
    fix: `remove ${dependents.length === 1 ? "it" : "them"} first`,
    data: { pack: name, dependents: [...dependents] },
  };
}

/** A command names a pack that is not installed. */
export function packNotInstalled(name: string, removed: boolean): Finding {
  return {
    code: "PACK_NOT_INSTALLED",
    severity: "blocked",
    statement: removed
      ? `pack "${name}" was removed (its ledger rows are kept)`
      : `no pack "${name}" is installed`,
    fix:
      `"lockstep pack list" lists the installed packs; "lockstep pack install ${name}" adds it ` +
      `from a bundle in pending/`,
    data: { pack: name },
  };
}

/** `pack install NAME` found no bundle of that pack (or of that version) in `pending/`. */
export function packNotFound(name: string, version: string | undefined): Finding {
  const what = version === undefined ? `pack "${name}"` : `pack "${name}" ${version}`;
  return {
    code: "PACK_NOT_FOUND",
    severity: "blocked",
    statement: `no bundle of ${what} is in pending/`,
    fix: `copy its bundle (made with "lockstep bundle create --pack ${name}") into pending/`,
    data: { pack: name, version: version ?? null },
  };
}

/** `pack remove --purge` cannot undo the pack's migrations. */
export function packPurgeRefused(
  name: string,
  reason: string,
  data: Readonly<Record<string, unknown>>,
): Finding {
  return {
    code: "PACK_PURGE_REFUSED",
    severity: "blocked",
    statement: `the migrations of pack "${name}" cannot be undone: ${reason}`,
    fix: `remove the pack without --purge (its tables and ledger rows are kept)`,
    data: { pack: name, ...data },
  };
}
