/**
 * picomatch, pinned: the glob syntax of `protect` and `backup.exclude`.
 *
 * @module
 */
import picomatch from "npm:picomatch@4.0.3";

/**
 * A matcher for root-relative paths: `dir/**` matches everything below `dir`
 * (and `dir` itself); a pattern without `/` matches a name at any depth.
 */
export function globMatcher(patterns: readonly string[]): (path: string) => boolean {
  if (patterns.length === 0) return () => false;
  return picomatch([...patterns], { dot: true, basename: true });
}
