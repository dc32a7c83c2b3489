/**
 * ignore, pinned: gitignore syntax for the release folder's
 * `.lockstepignore` (the rules git itself documents: negation, anchoring,
 * folder-only patterns, escapes).
 *
 * @module
 */
import ignore from "npm:ignore@7.0.17";

/**
 * A matcher for release-relative paths from the text of a gitignore-style
 * file; folders are asked with a trailing `/`, as git does.
 */
export function gitignoreMatcher(text: string): (path: string, folder: boolean) => boolean {
  const rules = ignore().add(text);
  return (path, folder) => rules.ignores(folder ? `${path}/` : path);
}
