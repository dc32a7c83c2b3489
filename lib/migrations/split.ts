/**
 * Splits a SQL script into statements at top-level semicolons, leaving
 * quoted text, quoted names, dollar-quoted bodies and comments whole.
 *
 * @module
 */

/** The statements of `script`, trimmed, without empty ones. */
export function splitStatements(script: string): string[] {
  const out: string[] = [];
  let start = 0;
  let i = 0;
  const n = script.length;
  while (i < n) {
    const c = script[i]!;
    const next = script[i + 1];
    if (c === "-" && next === "-") {
      const end = script.indexOf("\n", i);
      i = end === -1 ? n : end + 1;
    } else if (c === "/" && next === "*") {
      i = skipBlockComment(script, i);
    } else if (c === "'" || c === '"') {
      i = skipQuoted(script, i, c);
    } else if (c === "$") {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(script.slice(i, i + 64));
      if (tag) {
        const end = script.indexOf(tag[0], i + tag[0].length);
        i = end === -1 ? n : end + tag[0].length;
      } else {
        i++;
      }
    } else if (c === ";") {
      push(out, script.slice(start, i));
      start = ++i;
    } else {
      i++;
    }
  }
  push(out, script.slice(start));
  return out;
}

/**
 * Whether `script` ends with a complete statement: its last significant
 * character is a `;` outside quotes, quoted names, dollar quotes and comments.
 */
export function isComplete(script: string): boolean {
  let last = "";
  let i = 0;
  const n = script.length;
  while (i < n) {
    const c = script[i]!;
    const next = script[i + 1];
    if (c === "-" && next === "-") {
      const end = script.indexOf("\n", i);
      i = end === -1 ? n : end + 1;
      continue;
    }
    if (c === "/" && next === "*") {
      i = skipBlockComment(script, i);
      last = "/";
      continue;
    }
    if (c === "'" || c === '"') {
      const end = skipQuoted(script, i, c);
      if (end >= n && script[n - 1] !== c) return false;
      i = end;
      last = c;
      continue;
    }
    if (c === "$") {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(script.slice(i, i + 64));
      if (tag) {
        const end = script.indexOf(tag[0], i + tag[0].length);
        if (end === -1) return false;
        i = end + tag[0].length;
        last = "$";
        continue;
      }
    }
    if (!/\s/.test(c)) last = c;
    i++;
  }
  return last === ";";
}

function push(out: string[], statement: string): void {
  const trimmed = statement.trim();
  if (trimmed !== "" && !isOnlyComments(trimmed)) out.push(trimmed);
}

function isOnlyComments(text: string): boolean {
  return text.replace(/--[^\n]*(\n|$)/g, "").replace(/\/\*[\s\S]*?\*\//g, "").trim() === "";
}

function skipQuoted(script: string, i: number, quote: string): number {
  let j = i + 1;
  while (j < script.length) {
    if (script[j] === quote) {
      if (script[j + 1] === quote) j += 2;
      else return j + 1;
    } else {
      j++;
    }
  }
  return j;
}

function skipBlockComment(script: string, i: number): number {
  // PostgreSQL block comments nest.
  let depth = 0;
  let j = i;
  while (j < script.length) {
    if (script[j] === "/" && script[j + 1] === "*") {
      depth++;
      j += 2;
    } else if (script[j] === "*" && script[j + 1] === "/") {
      depth--;
      j += 2;
      if (depth === 0) return j;
    } else {
      j++;
    }
  }
  return j;
}
