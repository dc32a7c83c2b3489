/**
 * The paths a bundle may hold: canonical and relative (see
 * `unsafePathReason`), portable (a name that Windows cannot hold or would
 * read as a device is refused, since a bundle must install on any host), and
 * never two names that one host would fold into one file (by case or Unicode
 * normalisation). `bundle create`, the manifest and the zip entries are held
 * to the same rules.
 *
 * @module
 */
import { LockstepError } from "../errors.ts";
import { unsafePathReason } from "../files.ts";

/** Windows device names: reserved in any case, with any extension (`aux.txt`, `COM1.log`). */
const DEVICE = /^(CON|PRN|AUX|NUL|COM[0-9¹²³]|LPT[0-9¹²³]|CONIN\$|CONOUT\$) *(\..*)?$/i;
/** What `bundle create` says to do about a name. */
const FIX = "Rename it in the release, or leave it out with --exclude GLOB. ";
/** Characters Windows refuses in a name (`:` would also name an alternate data stream). */
const FORBIDDEN = /[<>:"|?*]/;

/**
 * The reason `path` cannot be held on every host, or `undefined`: not
 * canonical, a Windows device name, a trailing dot or space, or a character
 * Windows refuses (`:` names an alternate data stream there).
 */
export function bundlePathReason(path: string): string | undefined {
  const unsafe = unsafePathReason(path);
  if (unsafe !== undefined) return unsafe;
  for (const part of path.split("/")) {
    const device = DEVICE.exec(part);
    if (device) return `"${part}" is the Windows device name ${device[1]!.toUpperCase()}`;
    if (/[. ]$/.test(part)) {
      return `"${part}" ends with a ${part.endsWith(".") ? "dot" : "space"}, which Windows drops`;
    }
    if (part.includes(":")) return `"${part}" holds ":", which names a stream on Windows`;
    const forbidden = FORBIDDEN.exec(part);
    if (forbidden) return `"${part}" holds "${forbidden[0]}", which Windows refuses in names`;
  }
  return undefined;
}

/** The form two names share when a case-insensitive or normalising host would make them one. */
export function folded(path: string): string {
  return path.normalize("NFC").toLowerCase();
}

/**
 * Refuses unsafe or unportable paths, duplicates, and names (of files or of
 * the folders on their way) that differ only by case or Unicode
 * normalisation. A path ending in `/` is a folder (zip folder entries).
 *
 * @throws {LockstepError} `BUNDLE_PATH_UNSAFE`, `BUNDLE_PATH_COLLISION`.
 */
export function checkPaths(
  paths: readonly string[],
  where: string,
  list: string,
  action: "use" | "create" = "use",
): void {
  const seen = new Map<string, { path: string; folder: boolean }>();
  for (const entry of paths) {
    const folder = entry.endsWith("/");
    const path = folder ? entry.slice(0, -1) : entry;
    const reason = bundlePathReason(path);
    if (reason !== undefined) {
      throw new LockstepError(
        "BUNDLE_PATH_UNSAFE",
        `Cannot ${action} bundle "${where}": ${list} entry ${
          JSON.stringify(path)
        } is unsafe: ${reason}. ${action === "create" ? FIX : ""}Nothing was ${
          action === "create" ? "written" : "changed"
        }.`,
        { data: { bundle: where, path, reason } },
      );
    }
    const parts = path.split("/");
    for (let depth = 1; depth <= parts.length; depth++) {
      const name = parts.slice(0, depth).join("/");
      const isFolder = depth < parts.length || folder;
      const other = seen.get(folded(name));
      const same = other !== undefined && other.path === name && other.folder && isFolder;
      if (other !== undefined && !same) throw collision(where, list, other.path, name, action);
      seen.set(folded(name), { path: name, folder: isFolder });
    }
  }
}

/**
 * Refuses a removal that a case-insensitive or normalising host would apply
 * to a file the same bundle writes.
 *
 * @throws {LockstepError} `BUNDLE_PATH_COLLISION`.
 */
export function checkRemovals(
  writes: readonly string[],
  removes: readonly string[],
  where: string,
  action: "use" | "create" = "use",
): void {
  const written = new Map(writes.map((path) => [folded(path), path]));
  for (const path of removes) {
    const other = written.get(folded(path));
    if (other !== undefined && other !== path) {
      throw collision(where, "files and remove", other, path, action);
    }
  }
}

function collision(
  where: string,
  list: string,
  one: string,
  two: string,
  action: "use" | "create",
): LockstepError {
  const state = one === two
    ? `${list} holds "${one}" twice`
    : `${list} entries "${one}" and "${two}" collide by case or Unicode normalisation (one name ` +
      `on Windows and macOS)`;
  return new LockstepError(
    "BUNDLE_PATH_COLLISION",
    action === "use"
      ? `Cannot use bundle "${where}": ${state}. Nothing was changed.`
      : `Cannot create bundle "${where}": ${state}. ${FIX}Nothing was written.`,
    { data: { bundle: where, paths: [one, two] } },
  );
}
