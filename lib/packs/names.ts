/**
 * What a pack may be called: `[a-z0-9][a-z0-9-]{0,63}` (portable as a folder
 * name on every host), none of the reserved names (Windows device names, the
 * app's own name, words lockstep uses for other things), and no name that a
 * case-insensitive or normalising host would fold into a configured
 * package's or another pack's.
 *
 * @module
 */

/** The shape of a pack name. */
export const PACK_NAME = /^[a-z0-9][a-z0-9-]{0,63}$/;

/** Names lockstep keeps for itself (`code` is the log's source of code events; `app` a `requires` key). */
const RESERVED = new Set(["lockstep", "app", "code", "packs", "updates", "pending", "installed"]);

/** Windows device names: a folder by that name cannot be made there. */
const DEVICE = /^(con|prn|aux|nul|com[0-9]|lpt[0-9]|conin\$|conout\$)$/;

/** The form two names share when a host would make them one (case, Unicode compatibility forms). */
export function foldedName(name: string): string {
  return name.normalize("NFKC").toLowerCase();
}

/**
 * Why `name` cannot be a pack's name here, or `undefined`: its shape, a
 * reserved name, or a collision (the same name, or one by case or Unicode
 * form) with `app` or one of `taken` (the configured packages, and the
 * other packs).
 */
export function packNameReason(
  name: string,
  context: { readonly app: string; readonly taken: readonly string[] },
): string | undefined {
  if (!PACK_NAME.test(name)) {
    return `a pack's name is 1 to 64 lower-case letters, digits and "-", starting with a ` +
      `letter or digit, and ${JSON.stringify(name)} is not`;
  }
  if (RESERVED.has(name) || DEVICE.test(name)) return `"${name}" is a reserved name`;
  if (foldedName(name) === foldedName(context.app)) return `"${name}" is the app's own name`;
  const twin = context.taken.find((other) => foldedName(other) === foldedName(name));
  if (twin === name) return `"${name}" is taken by a configured package (or another pack)`;
  if (twin !== undefined) {
    return `"${name}" and "${twin}" are one name to a host that ignores case or Unicode form`;
  }
  return undefined;
}

/** The names of the packages `lockstep.json` configures (not the packs `withPacks()` added). */
export function configuredPackages(config: {
  readonly packages: Readonly<Record<string, unknown>>;
  readonly packs: { readonly loaded?: { readonly added: readonly string[] } };
}): string[] {
  const added = new Set(config.packs.loaded?.added ?? []);
  return Object.keys(config.packages).filter((name) => !added.has(name));
}
