// deno-lint-ignore-file no-console
/**
 * Migration benchmarks, through the real CLI (Deno's start-up included), on
 * a SQLite file and a local PostgreSQL server (a throwaway cluster, or
 * `LOCKSTEP_TEST_POSTGRES_URL`). Prints medians.
 *
 * 1. apply 1,000 migrations (each a small table with an index) from empty,
 *    against psql running the same SQL, one transaction per migration;
 * 2. `check` with 2,000 applied migrations across 50 packages;
 * 3. apply 1 migration on top of 1,000.
 *
 * Run: `deno task bench` (ROUNDS=N to change the number of rounds, default 5).
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freshDatabase } from "../tests/helpers/postgres.ts";
import { median } from "./common.ts";

const CLI = fileURLToPath(new URL("../cli.ts", import.meta.url));
const ROUNDS = Number(Deno.env.get("ROUNDS") ?? 5);

interface Setup {
  dir: string;
  url: string;
  flags: string[];
  dispose(): Promise<void>;
}

function migrationSql(i: number): string {
  return `create table bench_${i} (id integer primary key, name text not null, created_at text);\n` +
    `create index bench_${i}_name on bench_${i} (name);\n`;
}

async function makeApp(
  backend: "sqlite" | "postgres",
  packages: number,
  perPackage: number,
): Promise<Setup> {
  const dir = await Deno.makeTempDir({ prefix: "lockstep-bench-" });
  let url = "sqlite:data/app.db";
  let dispose = () => Deno.remove(dir, { recursive: true });
  const flags = [`--allow-read=${dir}`, `--allow-write=${dir}`];
  if (backend === "postgres") {
    const db = await freshDatabase();
    url = db.url;
    flags.push(`--allow-net=${new URL(url).host}`, "--allow-env=PGAPPNAME");
    dispose = async () => {
      await db[Symbol.asyncDispose]();
      await Deno.remove(dir, { recursive: true });
    };
  }
  const pkgs: Record<string, { migrations: string; database: string }> = {};
  let n = 0;
  for (let p = 0; p < packages; p++) {
    const folder = join(dir, "migrations", `p${p}`);
    await Deno.mkdir(folder, { recursive: true });
    pkgs[`p${p}`] = { migrations: `migrations/p${p}`, database: "main" };
    for (let i = 0; i < perPackage; i++) {
      const ts = 20260101000000 + p * 10000 + i;
      await Deno.writeTextFile(join(folder, `${ts}_m${i}.sql`), migrationSql(n++));
    }
  }
  await Deno.writeTextFile(
    join(dir, "lockstep.json"),
    JSON.stringify({ app: "bench", databases: { main: { url } }, packages: pkgs }),
  );
  return { dir, url, flags, dispose };
}

async function cli(setup: Setup, args: string[]): Promise<number> {
  const started = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      "--quiet",
      ...setup.flags,
      CLI,
      ...args,
      "--config",
      `${setup.dir}/lockstep.json`,
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  const ms = performance.now() - started;
  if (out.code !== 0 && !(args[0] === "check" && out.code === 4)) {
    throw new Error(
      `lockstep ${args.join(" ")} exited ${out.code}: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return ms;
}

async function psqlBaseline(): Promise<number> {
  const db = await freshDatabase();
  const script = Array.from({ length: 1000 }, (_, i) => `begin;\n${migrationSql(i)}commit;\n`).join(
    "",
  );
  const file = await Deno.makeTempFile({ suffix: ".sql" });
  await Deno.writeTextFile(file, script);
  try {
    const started = performance.now();
    const out = await new Deno.Command("psql", {
      args: ["-q", "-X", "-v", "ON_ERROR_STOP=1", "-f", file, db.url],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
    return performance.now() - started;
  } finally {
    await Deno.remove(file);
    await db[Symbol.asyncDispose]();
  }
}

const figures: string[] = [];
const report = (line: string) => {
  figures.push(line);
  console.log(line);
};

console.log(`lockstep migration benchmarks, ${ROUNDS} rounds each, medians\n`);
for (const backend of ["sqlite", "postgres"] as const) {
  const fromEmpty: number[] = [];
  const oneMore: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const app = await makeApp(backend, 1, 1000);
    try {
      fromEmpty.push(await cli(app, ["migrate", "--yes", "--no-backup"]));
      await Deno.writeTextFile(
        join(app.dir, "migrations/p0/20270101000000_one_more.sql"),
        migrationSql(5000),
      );
      oneMore.push(await cli(app, ["migrate", "--yes", "--no-backup"]));
    } finally {
      await app.dispose();
    }
  }
  report(`${backend}: apply 1,000 migrations from empty: ${median(fromEmpty).toFixed(0)} ms`);
  report(`${backend}: apply 1 migration on top of 1,000: ${median(oneMore).toFixed(0)} ms`);

  const app = await makeApp(backend, 50, 40);
  try {
    await cli(app, ["migrate", "--yes", "--no-backup"]);
    const checks: number[] = [];
    await cli(app, ["check"]); // warm Deno's module cache
    for (let r = 0; r < Math.max(ROUNDS, 10); r++) checks.push(await cli(app, ["check"]));
    report(
      `${backend}: check with 2,000 applied migrations in 50 packages: ${
        median(checks).toFixed(1)
      } ms`,
    );
  } finally {
    await app.dispose();
  }
}
const psql: number[] = [];
for (let r = 0; r < ROUNDS; r++) psql.push(await psqlBaseline());
report(
  `postgres: psql, the same 1,000 migrations, one transaction each: ${median(psql).toFixed(0)} ms`,
);
const startup: number[] = [];
for (let r = 0; r < 10; r++) {
  const started = performance.now();
  await new Deno.Command(Deno.execPath(), { args: ["eval", "0"], stdout: "null" }).output();
  startup.push(performance.now() - started);
}
report(`deno: start-up of an empty program: ${median(startup).toFixed(1)} ms`);
