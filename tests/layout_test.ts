/**
 * The shape of the code, guarded (STYLE.md items 1, 2, 9 and 21): no import
 * cycles among the project's modules; `cli/` imports only the public API
 * (`mod.ts`, or a module `mod.ts` re-exports from, so that a command loads
 * only what it uses), other `cli/` files and `node:` built-ins; `lib/` never
 * imports the command line;
 * every import works from a URL without an import map; and no file is over
 * 400 lines of code unless the allow-list below names it with its reason.
 *
 * The import graph is Deno's own (`deno info --json`: static, dynamic and
 * type imports). Allow-list entries that no longer apply fail too, so the
 * lists only shrink.
 *
 * @module
 */
import { fileURLToPath, pathToFileURL } from "node:url";
import { assert, assertEquals } from "./helpers/assert.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const MAX_LINES_OF_CODE = 400;

/** Files allowed over {@link MAX_LINES_OF_CODE} lines of code, each with its reason. */
const OVERSIZED: Readonly<Record<string, string>> = {};

/** Import cycles allowed for now: the files of each (sorted), with the reason. */
const CYCLES: ReadonlyArray<{ readonly files: readonly string[]; readonly reason: string }> = [];

/** One project module and what it imports. */
interface Module {
  /** Path relative to the repository root (`lib/check.ts`). */
  readonly path: string;
  /** Each import: the specifier as written, and the project file it resolves to (if any). */
  readonly imports: ReadonlyArray<{ readonly specifier: string; readonly target?: string }>;
}

let graph: Promise<Map<string, Module>> | undefined;

/** The project's modules (mod.ts, cli.ts, cli/, lib/), read once for all tests. */
function modules(): Promise<Map<string, Module>> {
  graph ??= readGraph();
  return graph;
}

async function readGraph(): Promise<Map<string, Module>> {
  const files = ["mod.ts", "cli.ts", ...await walk("cli"), ...await walk("lib")];
  const found = new Map<string, Module>();
  for (const root of files) {
    if (found.has(root)) continue;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", root],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert(out.success, `deno info ${root}: ${new TextDecoder().decode(out.stderr)}`);
    const info = JSON.parse(new TextDecoder().decode(out.stdout)) as DenoInfo;
    for (const module of info.modules) {
      const path = projectPath(module.specifier);
      if (path === undefined || !files.includes(path) || found.has(path)) continue;
      found.set(path, {
        path,
        imports: (module.dependencies ?? []).map((dep) => {
          const resolved = dep.code?.specifier ?? dep.type?.specifier;
          const target = resolved === undefined ? undefined : projectPath(resolved);
          return target === undefined ? { specifier: dep.specifier } : {
            specifier: dep.specifier,
            target,
          };
        }),
      });
    }
  }
  return found;
}

interface DenoInfo {
  modules: Array<{
    specifier: string;
    dependencies?: Array<{
      specifier: string;
      code?: { specifier?: string };
      type?: { specifier?: string };
    }>;
  }>;
}

function projectPath(specifier: string): string | undefined {
  const root = pathToFileURL(ROOT).href;
  return specifier.startsWith(root) ? specifier.slice(root.length) : undefined;
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(`${ROOT}${dir}`)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) out.push(...await walk(path));
    else if (entry.isFile && path.endsWith(".ts")) out.push(path);
  }
  return out.sort();
}

/** Non-blank lines that are not only a comment. */
function linesOfCode(text: string): number {
  let count = 0;
  let inBlock = false;
  for (const raw of text.split("\n")) {
    let line = raw.trim();
    if (inBlock) {
      const end = line.indexOf("*/");
      if (end === -1) continue;
      inBlock = false;
      line = line.slice(end + 2).trim();
    }
    while (line.startsWith("/*")) {
      const end = line.indexOf("*/", 2);
      if (end === -1) {
        inBlock = true;
        line = "";
      } else line = line.slice(end + 2).trim();
    }
    if (line !== "" && !line.startsWith("//")) count++;
  }
  return count;
}

/** The strongly connected components of more than one module, or of one that imports itself. */
function cycles(graph: Map<string, Module>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string) => {
    index.set(node, index.size);
    low.set(node, index.get(node)!);
    stack.push(node);
    onStack.add(node);
    for (const { target } of graph.get(node)?.imports ?? []) {
      if (target === undefined || !graph.has(target)) continue;
      if (!index.has(target)) {
        visit(target);
        low.set(node, Math.min(low.get(node)!, low.get(target)!));
      } else if (onStack.has(target)) low.set(node, Math.min(low.get(node)!, index.get(target)!));
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    const self = graph.get(node)!.imports.some((i) => i.target === node);
    if (component.length > 1 || self) found.push(component.sort());
  };
  for (const node of [...graph.keys()].sort()) if (!index.has(node)) visit(node);
  return found;
}

Deno.test("layout: no import cycles among mod.ts, cli.ts, cli/ and lib/ but the allow-listed ones", async () => {
  const found = cycles(await modules()).map((c) => c.join(" ↔ "));
  const allowed = CYCLES.map((c) => [...c.files].sort().join(" ↔ "));
  assertEquals(found.filter((c) => !allowed.includes(c)), [], "import cycles");
  assertEquals(
    allowed.filter((c) => !found.includes(c)),
    [],
    "allow-listed cycles that are gone: remove them from CYCLES",
  );
});

Deno.test("layout: cli/ imports only the public API (../mod.ts or a module it re-exports from), other cli/ files and node: built-ins; cli.ts only cli/", async () => {
  const graph = await modules();
  // A command imports the module mod.ts re-exports it from, so that it loads only what it uses.
  const publicModules = new Set(graph.get("mod.ts")!.imports.map((i) => i.target));
  const offending: string[] = [];
  for (const module of graph.values()) {
    const inCli = module.path.startsWith("cli/");
    if (!inCli && module.path !== "cli.ts") continue;
    for (const { specifier, target } of module.imports) {
      const ok = inCli
        ? specifier.startsWith("node:") || target === "mod.ts" || !!target?.startsWith("cli/") ||
          publicModules.has(target)
        : !!target?.startsWith("cli/");
      if (!ok) offending.push(`${module.path} imports "${specifier}"`);
    }
  }
  assertEquals(offending, []);
});

/** The names mod.ts re-exports, by the project module they come from (`lib/check.ts`). */
async function publicNames(): Promise<Map<string, Set<string>>> {
  const text = await Deno.readTextFile(`${ROOT}mod.ts`);
  const names = new Map<string, Set<string>>();
  for (
    const [, list, from] of text.matchAll(
      /export\s*(?:type\s*)?\{([^}]*)\}\s*from\s*"\.\/([^"]+)"/g,
    )
  ) {
    const set = names.get(from!) ?? new Set<string>();
    for (const item of list!.split(",")) {
      const name = item.replace(/^\s*type\s+/, "").trim().split(/\s+as\s+/).at(-1)!;
      if (name !== "") set.add(name);
    }
    names.set(from!, set);
  }
  return names;
}

Deno.test("layout: what cli/ imports from a lib/ module is what mod.ts re-exports from it", async () => {
  const exported = await publicNames();
  const offending: string[] = [];
  for (const path of await walk("cli")) {
    const text = await Deno.readTextFile(`${ROOT}${path}`);
    const imports = text.matchAll(
      /(?:import(?:\s+type)?\s*\{([^}]*)\}\s*from|const\s*\{([^}]*)\}\s*=\s*await\s+import\()\s*"\.\.\/(lib\/[^"]+)"/g,
    );
    for (const [, statics, dynamics, from] of imports) {
      for (const item of (statics ?? dynamics)!.split(",")) {
        const name = item.replace(/^\s*type\s+/, "").trim().split(/\s+as\s+|\s*:\s*/)[0]!;
        if (name !== "" && !exported.get(from!)?.has(name)) {
          offending.push(`${path} imports "${name}" from ${from}, which mod.ts does not export`);
        }
      }
    }
  }
  assertEquals(offending, []);
});

Deno.test("layout: nothing under lib/ imports cli/ or cli.ts", async () => {
  const offending = [...(await modules()).values()]
    .filter((m) => m.path.startsWith("lib/"))
    .flatMap((m) =>
      m.imports
        .filter(({ target }) => target === "cli.ts" || target?.startsWith("cli/"))
        .map(({ specifier }) => `${m.path} imports "${specifier}"`)
    );
  assertEquals(offending, []);
});

Deno.test("layout: every import is relative, node: or npm:, so cli.ts and mod.ts run from a URL", async () => {
  const offending = [...(await modules()).values()].flatMap((m) =>
    m.imports
      .filter(({ specifier }) => !/^(\.\.?\/|node:|npm:)/.test(specifier))
      .map(({ specifier }) => `${m.path} imports "${specifier}"`)
  );
  assertEquals(offending, []);
});

Deno.test(`layout: no file is over ${MAX_LINES_OF_CODE} lines of code unless allow-listed with its reason`, async () => {
  const sizes = new Map<string, number>();
  for (const path of (await modules()).keys()) {
    sizes.set(path, linesOfCode(await Deno.readTextFile(`${ROOT}${path}`)));
  }
  const over = [...sizes].filter(([, n]) => n > MAX_LINES_OF_CODE);
  assertEquals(
    over.filter(([path]) => !(path in OVERSIZED)).map(([path, n]) => `${path}: ${n}`),
    [],
    "files over the limit: split them (or allow-list them with the reason)",
  );
  assertEquals(
    Object.keys(OVERSIZED).filter((path) => !over.some(([p]) => p === path)),
    [],
    "allow-listed files now within the limit (or gone): remove them from OVERSIZED",
  );
});

Deno.test("layout: linesOfCode() skips blank lines, line comments and block comments", () => {
  const text = [
    "/**",
    " * Doc.",
    " */",
    "",
    "// note",
    "const a = 1; // counted",
    "/* one */ const b = 2;",
    "/* open",
    "still comment */ const c = 3;",
    "const url = 'https://x';",
  ].join("\n");
  assertEquals(linesOfCode(text), 4);
});
