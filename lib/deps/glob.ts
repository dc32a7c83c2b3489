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
  const anchored = patterns.filter((p) => p.includes("/"));
  const names = patterns.filter((p) => !p.includes("/"));
  // picomatch's own `basename` option also changes how anchored patterns match
  // ("config/**" stops matching "config/a.json"), so the two kinds stay apart.
  const full = anchored.length > 0 ? picomatch(anchored, { dot: true }) : () => false;
  const base = names.length > 0 ? picomatch(names, { dot: true }) : () => false;
  return (path) => full(path) || base(path.slice(path.lastIndexOf("/") + 1));
}
