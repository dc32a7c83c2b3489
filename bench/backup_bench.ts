// deno-lint-ignore-file no-console
/**
 * Backup benchmark, through the real CLI with the README's flags:
 *
 * - files: a deterministic tree of about SIZE_MB (default 1024) MB in FILES
 *   (default 20,000) files (compressible text, incompressible binaries, four
 *   files of 50 to 100 MB), then one of 5,000 files of about 4 KB:
 *   `backup --files-only` against `zip -r -q -6`, and `restore --no-backup`
 *   into an emptied root against `unzip -q`; peak RSS of each;
 * - SQLite: a database of about DB_MB (default 100) MB, `backup --db-only`
 *   against `sqlite3 .backup`;
 * - PostgreSQL: a table of ROWS (default 1,000,000) rows, `backup --db-only`
 *   with `--allow-run=pg_dump` and with the built-in dump, against `pg_dump -Fc`.
 *
 * Run: `deno task bench:backup` (SIZE_MB, FILES, DB_MB, ROWS, ROUNDS, ONLY=files|sqlite|postgres).
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { fileURLToPath } from "node:url";
import { freshDatabase } from "../tests/helpers/postgres.ts";
import { makeSmallFiles, median, randomBytes, row, timed } from "./common.ts";

const CLI = fileURLToPath(new URL("../cli.ts", import.meta.url));
const SIZE_MB = Number(Deno.env.get("SIZE_MB") ?? 1024);
const FILES = Number(Deno.env.get("FILES") ?? 20000);
const DB_MB = Number(Deno.env.get("DB_MB") ?? 100);
const ROWS = Number(Deno.env.get("ROWS") ?? 1_000_000);
const ROUNDS = Number(Deno.env.get("ROUNDS") ?? 3);
const ONLY = Deno.env.get("ONLY");

const random = randomBytes();

function text(size: number, i: number): string {
  const line = `export const value${i} = "${"lorem ipsum dolor sit amet ".repeat(3)}"; // ${
    i * 7919 % 1000
  }\n`;
  return line.repeat(Math.ceil(size / line.length)).slice(0, size);
}

/** About SIZE_MB in FILES files plus four large ones (two text, two binary, 50–100 MB). */
async function makeTree(root: string): Promise<void> {
  const total = SIZE_MB * 1024 * 1024;
  const larges = [50, 60, 80, 100].map((mb) => Math.min(mb * 1024 * 1024, total / 8));
  const small = Math.floor((total - larges.reduce((a, b) => a + b, 0)) / FILES);
  for (let i = 0; i < FILES; i++) {
    const folder = `${root}/src/m${i % 200}`;
    if (i < 200) await Deno.mkdir(folder, { recursive: true });
    // Sizes vary around the mean so that the tree is not uniform.
    const size = Math.max(16, Math.floor(small * (0.25 + (i % 7) / 4)));
    if (i % 2 === 0) await Deno.writeTextFile(`${folder}/f${i}.ts`, text(size, i));
    else await Deno.writeFile(`${folder}/f${i}.bin`, random(new Uint8Array(size & ~3)));
  }
  await Deno.mkdir(`${root}/assets`, { recursive: true });
  for (const [n, size] of larges.entries()) {
    const file = await Deno.open(`${root}/assets/large${n}.${n % 2 ? "bin" : "txt"}`, {
      write: true,
      create: true,
    });
    const chunk = new Uint8Array(1024 * 1024);
    for (let written = 0; written < size; written += chunk.length) {
      if (n % 2) random(chunk);
      else chunk.set(new TextEncoder().encode(text(chunk.length, written)));
      await file.write(chunk);
    }
    file.close();
  }
}

function lockstep(app: string, args: string[], flags: string[] = []): string[] {
  return [
    Deno.execPath(),
    "run",
    "--no-prompt",
    "--quiet",
    `--allow-read=${app}`,
    `--allow-write=${app}`,
    ...flags,
    CLI,
    ...args,
    "--config",
    `${app}/lockstep.json`,
  ];
}

/** The id of the newest backup in `app` (ids sort by time). */
async function newestBackup(app: string): Promise<string> {
  const ids = (await Array.fromAsync(Deno.readDir(`${app}/updates/backups`)))
    .filter((e) => e.isDirectory && !e.name.startsWith(".")).map((e) => e.name).sort();
  return ids.at(-1)!;
}

async function must(run: ReturnType<typeof timed>) {
  const result = await run;
  if (result.code !== 0) throw new Error(result.stderr);
  return { ...result, peakMB: result.peakKiB / 1024 };
}

function report(label: string, ours: number[], theirs: number[], target: number, peak?: number[]) {
  const a = median(ours);
  const b = median(theirs);
  console.log(
    `${label}: ${a.toFixed(0)} ms vs ${b.toFixed(0)} ms → ${
      (a / b).toFixed(2)
    }× (target ${target}×)` +
      (peak ? `, peak RSS ${median(peak).toFixed(0)} MB` : ""),
  );
}

/**
 * `backup --files-only` of the tree `make` writes against `zip -r -q -6`, and
 * `restore` into an emptied root against `unzip -q` into an empty folder.
 */
async function filesRows(app: string, label: string, make: (app: string) => Promise<void>) {
  await make(app);
  await Deno.writeTextFile(`${app}/lockstep.json`, JSON.stringify({ app: "bench" }));
  await Deno.writeTextFile(`${app}/VERSION`, "1.0.0\n");
  const tops = [...Deno.readDirSync(app)].filter((e) => e.isDirectory).map((e) => e.name);
  const backups: number[] = [];
  const backupPeaks: number[] = [];
  const zips: number[] = [];
  const restores: number[] = [];
  const restorePeaks: number[] = [];
  const unzips: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const made = await must(timed(lockstep(app, ["backup", "--files-only", "--label", `r${r}`])));
    backups.push(made.ms);
    backupPeaks.push(made.peakKiB);
    const zip = `${work}/zip${r}.zip`;
    zips.push(
      (await must(timed(["zip", "-r", "-q", "-6", zip, ".", "-x", "updates/*"], app))).ms,
    );
    const id = [...Deno.readDirSync(`${app}/updates/backups`)].map((e) => e.name).find((n) =>
      n.endsWith(`-r${r}`)
    )!;
    // Restore into an emptied root (every file written), as unzip into an empty folder.
    for (const top of tops.filter((t) => t !== "updates")) {
      await Deno.remove(`${app}/${top}`, { recursive: true });
    }
    const restored = await must(timed(lockstep(app, ["restore", id, "--yes", "--no-backup"])));
    restores.push(restored.ms);
    restorePeaks.push(restored.peakKiB);
    const target = `${work}/unzip${r}`;
    await Deno.mkdir(target);
    unzips.push((await must(timed(["unzip", "-q", zip, "-d", target]))).ms);
    await Deno.remove(target, { recursive: true });
    await Deno.remove(zip);
    await Deno.remove(`${app}/updates/backups/${id}`, { recursive: true });
  }
  row(`backup --files-only, ${label}`, { ms: backups, peakKiB: backupPeaks }, {
    name: "zip -r -q -6",
    ms: zips,
  }, { ratio: 1.0, peakMB: 200 });
  row(`restore into an emptied root, ${label}`, { ms: restores, peakKiB: restorePeaks }, {
    name: "unzip -q",
    ms: unzips,
  }, { ratio: 1.5, peakMB: 200 });
  await Deno.remove(app, { recursive: true });
}

const work = await Deno.makeTempDir({ prefix: "lockstep-backup-bench-" });
try {
  if (ONLY === undefined || ONLY === "files") {
    await filesRows(`${work}/app`, `${SIZE_MB} MB in ${FILES + 4} files`, makeTree);
    await filesRows(`${work}/small`, "5,000 files of about 4 KB", (app) => makeSmallFiles(app));
  }

  if (ONLY === undefined || ONLY === "sqlite") {
    const app = `${work}/sqlite`;
    await Deno.mkdir(`${app}/data`, { recursive: true });
    await Deno.writeTextFile(
      `${app}/lockstep.json`,
      JSON.stringify({ app: "bench", databases: { main: { url: "sqlite:data/main.db" } } }),
    );
    const db = new DatabaseSync(`${app}/data/main.db`);
    db.exec("pragma journal_mode = wal; create table rows (id integer primary key, body text)");
    const insert = db.prepare("insert into rows (body) values (?)");
    db.exec("begin");
    for (let i = 0; i < DB_MB * 1024; i++) insert.run(text(900, i));
    db.exec("commit");
    db.close();
    const size = (await Deno.stat(`${app}/data/main.db`)).size / 1024 / 1024;
    const ours: number[] = [];
    const theirs: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      ours.push((await must(timed(lockstep(app, ["backup", "--db-only"])))).ms);
      theirs.push(
        (await must(timed(["sqlite3", `${app}/data/main.db`, `.backup ${work}/s${r}.db`]))).ms,
      );
    }
    report(`SQLite ${size.toFixed(0)} MB: backup --db-only vs sqlite3 .backup`, ours, theirs, 1.3);
    const id = await newestBackup(app);
    const restored: number[] = [];
    const shell: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      restored.push(
        (await must(timed(lockstep(app, ["restore", id, "--yes", "--no-backup"])))).ms,
      );
      shell.push(
        (await must(timed(["sqlite3", `${work}/r${r}.db`, `.restore ${work}/s${r}.db`]))).ms,
      );
    }
    report(`SQLite ${size.toFixed(0)} MB: restore vs sqlite3 .restore`, restored, shell, 1.3);
  }

  if (ONLY === undefined || ONLY === "postgres") {
    await using pg = await freshDatabase();
    await pg.query(
      "create table rows (id bigserial primary key, name text, n int, at timestamptz)",
    );
    await pg.query(
      `insert into rows (name, n, at) select 'row ' || g, g % 1000, now() - g * interval '1 second'
         from generate_series(1, ${ROWS}) g`,
    );
    const app = `${work}/pg`;
    await Deno.mkdir(app);
    await Deno.writeTextFile(
      `${app}/lockstep.json`,
      JSON.stringify({ app: "bench", databases: { main: { url: pg.url } } }),
    );
    const host = new URL(pg.url).host;
    const net = [`--allow-net=${host}`, "--allow-env=PGAPPNAME"];
    const withTool: number[] = [];
    const builtIn: number[] = [];
    const theirs: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      withTool.push(
        (await must(timed(lockstep(app, ["backup", "--db-only"], [...net, "--allow-run=pg_dump"]))))
          .ms,
      );
      builtIn.push((await must(timed(lockstep(app, ["backup", "--db-only"], net)))).ms);
      theirs.push(
        (await must(timed(["pg_dump", "-Fc", `--dbname=${pg.url}`, "-f", `${work}/p${r}.dump`])))
          .ms,
      );
    }
    report(
      `PostgreSQL ${ROWS} rows: backup --db-only (pg_dump) vs pg_dump -Fc`,
      withTool,
      theirs,
      1.3,
    );
    report(
      `PostgreSQL ${ROWS} rows: backup --db-only (built-in) vs pg_dump -Fc`,
      builtIn,
      theirs,
      3,
    );
    // The last backup of the loop was the built-in one; then one with pg_dump.
    const builtInId = await newestBackup(app);
    await must(timed(lockstep(app, ["backup", "--db-only"], [...net, "--allow-run=pg_dump"])));
    const toolId = await newestBackup(app);
    const restoreTool: number[] = [];
    const restoreBuiltIn: number[] = [];
    const pgRestore: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const args = ["--yes", "--no-backup"];
      restoreTool.push(
        (await must(timed(lockstep(app, ["restore", toolId, ...args], [
          ...net,
          "--allow-run=pg_restore",
        ])))).ms,
      );
      restoreBuiltIn.push(
        (await must(timed(lockstep(app, ["restore", builtInId, ...args], net)))).ms,
      );
      pgRestore.push(
        (await must(timed([
          "pg_restore",
          "--clean",
          "--if-exists",
          `--dbname=${pg.url}`,
          `${work}/p${r}.dump`,
        ]))).ms,
      );
    }
    report(`PostgreSQL ${ROWS} rows: restore (pg_dump) vs pg_restore`, restoreTool, pgRestore, 1.3);
    report(
      `PostgreSQL ${ROWS} rows: restore (built-in) vs pg_restore`,
      restoreBuiltIn,
      pgRestore,
      3,
    );
  }
} finally {
  await Deno.remove(work, { recursive: true });
}
