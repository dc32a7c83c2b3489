/**
 * npm's semantic-version library, pinned: ranges in `upgradesFrom` and
 * `requires` use its syntax.
 *
 * @module
 */
export { compare, satisfies, valid, validRange } from "npm:semver@7.7.3";
