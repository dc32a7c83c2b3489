/**
 * Duplicate keys in JSON. `JSON.parse` keeps the last of two equal keys and
 * other parsers keep the first, so a signed document with a duplicate key
 * can mean two things: lockstep refuses it. The scan runs over text that
 * `JSON.parse` already accepted, so it only needs to find strings and
 * brackets; it keeps an explicit stack (deep nesting cannot overflow it).
 *
 * @module
 */

interface Frame {
  /** Keys seen so far; absent for arrays. */
  readonly keys?: Set<string>;
  /** Where this object or array is, for the message (`files["a.ts"]`). */
  readonly path: string;
  /** The last key read in this object. */
  key?: string;
}

/**
 * The path of the first duplicate key in `text` (`version`,
 * `files["app/main.ts"].size`), or `undefined` when there is none.
 *
 * @throws {SyntaxError} When `text` is not JSON.
 */
export function duplicateKey(text: string): string | undefined {
  JSON.parse(text);
  const frames: Frame[] = [];
  let expectKey = false;
  for (let at = 0; at < text.length; at++) {
    const c = text[at];
    const top = frames.at(-1);
    if (c === '"') {
      const end = stringEnd(text, at);
      if (expectKey && top?.keys) {
        const key = JSON.parse(text.slice(at, end)) as string;
        if (top.keys.has(key)) return member(top.path, key);
        top.keys.add(key);
        top.key = key;
      }
      expectKey = false;
      at = end - 1;
    } else if (c === "{" || c === "[") {
      const path = top === undefined ? "" : member(top.path, top.keys ? top.key! : "[]");
      frames.push(c === "{" ? { keys: new Set(), path } : { path });
      expectKey = c === "{";
    } else if (c === "}" || c === "]") {
      frames.pop();
    } else if (c === ",") {
      expectKey = top?.keys !== undefined;
    }
  }
  return undefined;
}

/** The index just past the string literal that starts at `start`. */
function stringEnd(text: string, start: number): number {
  for (let at = start + 1; at < text.length; at++) {
    if (text[at] === "\\") at++;
    else if (text[at] === '"') return at + 1;
  }
  return text.length;
}

function member(path: string, key: string): string {
  if (key === "[]") return `${path}[]`;
  const name = /^[A-Za-z_$][\w$]*$/.test(key) ? key : undefined;
  if (path === "") return name ?? JSON.stringify(key);
  return name === undefined ? `${path}[${JSON.stringify(key)}]` : `${path}.${name}`;
}
