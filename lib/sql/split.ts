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
  scan(script, (c, i) => {
    if (c !== ";") return;
    push(out, script.slice(start, i));
    start = i + 1;
  });
  push(out, script.slice(start));
  return out;
}

/**
 * Whether `script` ends with a complete statement: its last significant
 * character is a `;` outside quotes, quoted names, dollar quotes and comments.
 */
export function isComplete(script: string): boolean {
  let last = "";
  const closed = scan(script, (c) => {
    if (!/\s/.test(c)) last = c;
  });
  return closed && last === ";";
}

/**
 * Walks the top-level text of `script`, skipping comments, and calls `visit`
 * with each character outside quotes (a quoted or dollar-quoted region is
 * visited once, as its opening quote). Returns false when the script ends
 * inside a quote.
 */
function scan(script: string, visit: (c: string, i: number) => void): boolean {
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
      const end = skipQuoted(script, i, c);
      if (end === -1) return false;
      visit(c, i);
      i = end;
    } else {
      const tag = c === "$" ? /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(script.slice(i, i + 64)) : null;
      if (tag) {
        const end = script.indexOf(tag[0], i + tag[0].length);
        if (end === -1) return false;
        visit("$", i);
        i = end + tag[0].length;
      } else {
        visit(c, i);
        i++;
      }
    }
  }
  return true;
}

function push(out: string[], statement: string): void {
  const trimmed = statement.trim();
  if (trimmed !== "" && !isOnlyComments(trimmed)) out.push(trimmed);
}

function isOnlyComments(text: string): boolean {
  return text.replace(/--[^\n]*(\n|$)/g, "").replace(/\/\*[\s\S]*?\*\//g, "").trim() === "";
}

/** The index after the quoted text starting at `i`, or -1 when it never closes. */
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
  return -1;
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
