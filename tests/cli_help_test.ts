/**
 * The command line as people meet it, as real subprocesses: help generated
 * from the declarations, "did you mean", `--config` before or after the
 * command, usage errors; and the README's command reference held to the
 * declarations.
 *
 * @module
 */
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { fixture, makeApp } from "./helpers/app.ts";
import { documentedFlags, runCli } from "./helpers/cli.ts";
import { tempDir } from "./helpers/temp.ts";
import { type AnyCommand, COMMON_OPTIONS, type Options } from "../cli/command.ts";
import { COMMANDS } from "../cli/commands.ts";
import { synopsis } from "../cli/help.ts";

const flat = (text: string) => text.replace(/\s+/g, " ");
const optionsOf = (command: AnyCommand): Options => command.options;

Deno.test("cli: lockstep help exits 0 and lists every command", async () => {
  const result = await runCli([], ["help"]);
  assertEquals(result.code, 0, result.stderr);
  for (const command of COMMANDS) {
    for (const line of synopsis(command)) {
      assert(flat(result.stdout).includes(flat(line)), `lockstep help lacks "${line}"`);
    }
  }
});

Deno.test("cli: lockstep alone prints the usage and exits 2", async () => {
  const result = await runCli([], []);
  assertEquals(result.code, 2);
  assertMatch(result.stdout, /Usage: lockstep/);
  assertMatch(result.stdout, /backup verify ID/);
});

Deno.test("cli: help migrate and migrate --help show the usage line and every option with its help", async () => {
  const migrate = COMMANDS.find((c) => c.name === "migrate")!;
  const help = await runCli([], ["help", "migrate"]);
  const flag = await runCli([], ["migrate", "--help"]);
  assertEquals([help.code, flag.code], [0, 0], help.stderr + flag.stderr);
  assertEquals(flag.stdout, help.stdout);
  assertMatch(help.stdout, /^Usage: lockstep migrate \[--to ID\] \[--dry-run\]/);
  const text = flat(help.stdout);
  for (const [name, spec] of Object.entries({ ...optionsOf(migrate), ...COMMON_OPTIONS })) {
    assert(text.includes(`--${name}`), `--${name}`);
    assert(text.includes(spec.help), `the help of --${name}`);
  }
  const verify = await runCli([], ["backup", "verify", "--help"]);
  assertEquals(verify.code, 0, verify.stderr);
  assertMatch(verify.stdout, /^Usage: lockstep backup verify ID/);
});

Deno.test("cli: a mistyped command exits 2 with did you mean", async () => {
  const result = await runCli([], ["mgirate"]);
  assertEquals(result.code, 2);
  assertMatch(result.stderr, /Unknown command "mgirate"\. Did you mean "migrate"\? \[USAGE\]/);
  const json = await runCli([], ["mgirate", "--json"]);
  assertEquals(json.code, 2);
  const error = JSON.parse(json.stdout).error;
  assertEquals([error.code, error.data.suggestions], ["USAGE", ["migrate"]]);
  const two = await runCli([], ["backup", "verfy", "x"]);
  assertEquals(two.code, 2);
  assertMatch(two.stderr, /Unknown command "backup verfy"\. Did you mean "backup verify"\?/);
});

Deno.test("cli: --config PATH works before and after the command", async () => {
  await using app = await makeApp("sqlite", { packages: await fixture("cross-package") });
  await using elsewhere = await tempDir();
  const flags = documentedFlags(app.dir, { write: false });
  const runs = [
    ["--config", app.configPath, "check"],
    ["check", "--config", app.configPath],
    [`--config=${app.configPath}`, "check"],
    ["check", `--config=${app.configPath}`],
  ];
  for (const args of runs) {
    const result = await runCli(flags, args, { cwd: elsewhere.path });
    assertEquals(result.code, 4, `${args.join(" ")}: ${result.stderr}`);
    assertMatch(result.stdout, /4 migration\(s\) pending/);
  }
  const json = await runCli(flags, ["--json", "--config", app.configPath, "status"], {
    cwd: elsewhere.path,
  });
  assertEquals(json.code, 0, json.stderr);
  assertEquals(JSON.parse(json.stdout).ok, true);
  const none = await runCli([`--allow-read=${app.dir},${elsewhere.path}`], ["check"], {
    cwd: elsewhere.path,
  });
  assertEquals(none.code, 2, "without --config there is no lockstep.json here");
  assertMatch(none.stderr, /CONFIG_NOT_FOUND/);
});

Deno.test("cli: an unknown option exits 2 naming it", async () => {
  const result = await runCli([], ["check", "--bogus"]);
  assertEquals(result.code, 2);
  assertMatch(result.stderr, /Unknown option "--bogus" for "check"\..*\[USAGE\]/);
  const close = await runCli([], ["migrate", "--dry-rn"]);
  assertEquals(close.code, 2);
  assertMatch(close.stderr, /Unknown option "--dry-rn" for "migrate"\. Did you mean "--dry-run"\?/);
});

Deno.test("cli: a wrong number of arguments exits 2 saying what the command takes", async () => {
  const cases: Array<[string[], RegExp]> = [
    [["start"], /"start" needs a COMMAND after "--"/],
    [["start", "--ignore"], /"start" needs a COMMAND after "--"/],
    [["restore"], /"restore" needs an ID/],
    [["check", "extra"], /"check" takes no arguments, but got "extra"/],
    [["backup", "verify", "a", "b"], /"backup verify" takes 1 argument \(ID\), but got 2/],
  ];
  for (const [args, message] of cases) {
    const result = await runCli([], args);
    assertEquals(result.code, 2, args.join(" "));
    assertMatch(result.stderr, message);
    assertMatch(result.stderr, /\[USAGE\]/);
    assert(!/Infinity/.test(result.stderr));
  }
});

Deno.test("README: the command reference names every command with each of its flags, and no flag a command does not declare", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const start = readme.indexOf("\n## Commands\n");
  const section = readme.slice(start, readme.indexOf("\n## ", start + 1));
  const rows = section.split("\n").filter((line) => line.startsWith("| `")).map((line) => {
    const text = line.replaceAll("\\|", "|");
    return { usage: /^\| `([^`]*)`/.exec(text)![1]!, text };
  });
  const common = Object.keys(COMMON_OPTIONS).map((name) => `--${name}`);
  for (const row of rows) {
    const owner = ownerOf(row.usage);
    assert(owner, `the README documents "${row.usage}", which no command declares`);
  }
  for (const command of COMMANDS) {
    const own = rows.filter((row) => ownerOf(row.usage) === command);
    assertEquals(own.map((r) => r.usage), [...synopsis(command)], `README rows of ${command.name}`);
    const text = own.map((r) => r.text).join("\n");
    const declared = Object.keys(optionsOf(command)).map((name) => `--${name}`);
    for (const flag of declared) assert(text.includes(flag), `${command.name} ${flag}`);
    const named = text.match(/--[a-z][a-z-]*/g) ?? [];
    assertEquals(
      named.filter((flag) => !declared.includes(flag) && !common.includes(flag)),
      [],
      `the README's ${command.name} row names flags it does not declare`,
    );
  }
  // Anywhere else: an inline `command --flag` names only that command's flags.
  for (const [, span] of readme.matchAll(/`(?:lockstep )?([a-z][^`]*)`/g)) {
    const owner = ownerOf(span!);
    if (owner === undefined) continue;
    const declared = [...Object.keys(optionsOf(owner)), ...Object.keys(COMMON_OPTIONS)];
    for (const flag of span!.match(/--[a-z][a-z-]*/g) ?? []) {
      assert(declared.includes(flag.slice(2)), `README: \`${span}\` names ${flag}`);
    }
  }
});

/** The command a usage line or code span starts with (the longest name that fits). */
function ownerOf(text: string): AnyCommand | undefined {
  return COMMANDS
    .filter((c) => text === c.name || text.startsWith(`${c.name} `))
    .sort((a, b) => b.name.length - a.name.length)[0];
}
