/**
 * The command line's parser, help and "did you mean", tested in process on
 * the real declarations (tests/cli_help_test.ts runs the same as
 * subprocesses).
 *
 * @module
 */
import { assertEquals, assertMatch, throwsWith } from "./helpers/assert.ts";
import { type AnyCommand, COMMON_OPTIONS, type Options } from "../cli/command.ts";
import { COMMANDS } from "../cli/commands.ts";
import { commandHelp, synopsis, usageText } from "../cli/help.ts";
import { type Invocation, parseCommandArgs, parseCommandLine } from "../cli/parse.ts";
import { editDistance, suggest } from "../cli/suggest.ts";

const named = (name: string): AnyCommand => COMMANDS.find((c) => c.name === name)!;
const parse = (...argv: string[]) => parseCommandLine(argv, COMMANDS);
const run = (invocation: Invocation) => {
  if (invocation.kind !== "run") throw new Error(`expected a run, got ${invocation.kind}`);
  return invocation;
};
const flat = (text: string) => text.replace(/\s+/g, " ");

Deno.test("editDistance() counts insertions, deletions, substitutions and adjacent swaps", () => {
  assertEquals(editDistance("migrate", "migrate"), 0);
  assertEquals(editDistance("mgirate", "migrate"), 1);
  assertEquals(editDistance("migrat", "migrate"), 1);
  assertEquals(editDistance("migrxte", "migrate"), 1);
  assertEquals(editDistance("", "abc"), 3);
  assertEquals(editDistance("status", "start"), 3);
});

Deno.test("suggest() offers the nearest names only when they are near", () => {
  const names = COMMANDS.map((c) => c.name.split(" ")[0]!);
  assertEquals(suggest("mgirate", names), ["migrate"]);
  assertEquals(suggest("chek", names), ["check"]);
  assertEquals(suggest("bakup", names), ["backup"]);
  assertEquals(suggest("bogus", names), []);
  assertEquals(suggest("verfy", ["verify", "prune"]), ["verify"]);
});

Deno.test("parseCommandLine(): --config before or after the command, = or a separate value", () => {
  for (
    const argv of [
      ["--config", "a.json", "check"],
      ["--config=a.json", "check"],
      ["check", "--config", "a.json"],
      ["check", "--config=a.json"],
    ]
  ) {
    const call = run(parse(...argv));
    assertEquals([call.command.name, call.values.config, call.args], ["check", "a.json", []]);
  }
  assertEquals(
    run(parse("--config", "a.json", "check", "--config", "b.json")).values.config,
    "b.json",
  );
  assertEquals(run(parse("--json", "status")).values.json, true);
});

Deno.test("parseCommandLine(): two-word commands, and what follows -- stays the application's", () => {
  const verify = run(parse("backup", "verify", "20260101T000000Z"));
  assertEquals([verify.command.name, verify.args], ["backup verify", ["20260101T000000Z"]]);
  assertEquals(run(parse("backup", "--label", "x")).command.name, "backup");
  const start = run(parse("start", "--ignore", "--", "deno", "eval", "--config", "x", "--json"));
  assertEquals(start.args, ["deno", "eval", "--config", "x", "--json"]);
  assertEquals([start.values.config, start.values.json, start.values.ignore], [
    undefined,
    false,
    true,
  ]);
});

Deno.test("parseCommandLine(): help, --help and the bare command line", () => {
  assertEquals(parse(), { kind: "usage", exitCode: 2 });
  assertEquals(parse("help"), { kind: "usage", exitCode: 0 });
  assertEquals(parse("--help"), { kind: "usage", exitCode: 0 });
  assertEquals(parse("-h"), { kind: "usage", exitCode: 0 });
  assertEquals(parse("--version"), { kind: "version" });
  assertEquals(parse("help", "migrate"), { kind: "help", command: named("migrate") });
  assertEquals(parse("migrate", "--help"), { kind: "help", command: named("migrate") });
  assertEquals(parse("--help", "migrate"), { kind: "help", command: named("migrate") });
  assertEquals(parse("help", "backup", "verify"), {
    kind: "help",
    command: named("backup verify"),
  });
  // --help skips the other checks: restore needs an ID, bundle create its required options.
  assertEquals(parse("restore", "-h"), { kind: "help", command: named("restore") });
  assertEquals(parse("bundle", "create", "--help").kind, "help");
  const group = parse("help", "bundle");
  assertEquals(group.kind === "group" && group.commands.map((c) => c.name), [
    "bundle create",
    "bundle inspect",
  ]);
});

Deno.test("parseCommandLine(): a mistyped command is a USAGE error with did you mean", () => {
  const one = throwsWith(() => parse("mgirate"), "USAGE");
  assertEquals(one.message, 'Unknown command "mgirate". Did you mean "migrate"?');
  assertEquals(one.data, { command: "mgirate", suggestions: ["migrate"] });
  const two = throwsWith(() => parse("backup", "verfy", "x"), "USAGE");
  assertEquals(two.message, 'Unknown command "backup verfy". Did you mean "backup verify"?');
  assertMatch(throwsWith(() => parse("bogus"), "USAGE").message, /^Unknown command "bogus"\. See/);
  assertMatch(throwsWith(() => parse("help", "mgirate"), "USAGE").message, /"migrate"/);
  assertMatch(
    throwsWith(() => parse("bundle"), "USAGE").message,
    /"bundle create" or "bundle inspect"/,
  );
  assertMatch(throwsWith(() => parse("--yes", "migrate"), "USAGE").message, /"--yes" before/);
});

Deno.test("parseCommandArgs(): typed values with defaults, repeatable options, short flags", () => {
  const migrate = parseCommandArgs(named("migrate"), ["--to", "core/x", "-y"]);
  assertEquals(migrate.values, {
    config: undefined,
    json: false,
    help: false,
    to: "core/x",
    "dry-run": false,
    yes: true,
    "no-backup": false,
    "lock-timeout": "30",
    "accept-drift": false,
    transaction: undefined,
  });
  const required = ["--from", "r", "--version", "1.0.0", "--out", "o.zip"];
  const bundle = parseCommandArgs(named("bundle create"), [
    ...required,
    "--database",
    "a",
    "--database",
    "b",
  ]);
  assertEquals(bundle.values.database, ["a", "b"]);
  assertEquals(parseCommandArgs(named("bundle create"), required).values.database, []);
});

Deno.test("parseCommandArgs(): unknown options, missing values, required options and counts are USAGE errors", () => {
  const unknown = throwsWith(() => parseCommandArgs(named("migrate"), ["--dry-rn"]), "USAGE");
  assertEquals(
    unknown.message,
    'Unknown option "--dry-rn" for "migrate". Did you mean "--dry-run"?',
  );
  assertMatch(
    throwsWith(() => parseCommandArgs(named("check"), ["--yes"]), "USAGE").message,
    /"--yes"/,
  );
  assertMatch(
    throwsWith(() => parseCommandArgs(named("migrate"), ["--to"]), "USAGE").message,
    /--to/,
  );
  assertMatch(
    throwsWith(() => parseCommandArgs(named("keygen"), []), "USAGE").message,
    /keygen needs --out KEYFILE/,
  );
  const errors: Array<[string, string[], RegExp]> = [
    ["start", [], /"start" needs a COMMAND after "--"/],
    ["restore", [], /"restore" needs an ID/],
    ["bundle inspect", [], /"bundle inspect" needs a FILE/],
    ["maintenance", [], /"maintenance" needs on, off or status/],
    ["check", ["extra"], /"check" takes no arguments, but got "extra"/],
    ["backup verify", ["a", "b"], /"backup verify" takes 1 argument \(ID\), but got 2/],
    ["install", ["a", "b"], /"install" takes at most 1 argument \(BUNDLE\), but got 2/],
  ];
  for (const [name, args, message] of errors) {
    assertMatch(throwsWith(() => parseCommandArgs(named(name), args), "USAGE").message, message);
  }
});

Deno.test("every command's synopsis names exactly its declared flags", () => {
  for (const command of COMMANDS) {
    const written = new Set(synopsis(command).join(" ").match(/--[a-z][a-z-]*/g) ?? []);
    const declared = new Set(Object.keys(command.options as Options).map((name) => `--${name}`));
    assertEquals(written, declared, command.name);
    for (const line of synopsis(command)) assertMatch(line, new RegExp(`^${command.name}( |$)`));
  }
});

Deno.test("every command's help shows its synopsis, summary, and each option and argument with its help", () => {
  for (const command of COMMANDS) {
    const help = flat(commandHelp(command, COMMANDS));
    assertMatch(help, new RegExp(`^Usage: lockstep ${command.name}`));
    for (const line of synopsis(command)) {
      assertEquals(help.includes(flat(`lockstep ${line}`)), true, `${command.name}: ${line}`);
    }
    const options: Options = { ...command.options, ...COMMON_OPTIONS };
    for (const [name, spec] of Object.entries(options)) {
      const label = `--${name}${spec.type === "string" ? ` ${spec.value}` : ""}`;
      assertEquals(help.includes(`${label} ${spec.help}`), true, `${command.name} --${name}`);
    }
    for (const p of command.positionals) {
      assertEquals(help.includes(p.help), true, `${command.name} ${p.name}`);
    }
  }
});

Deno.test("usageText() lists every command with its synopsis", () => {
  const text = usageText(COMMANDS);
  for (const command of COMMANDS) {
    assertEquals(text.includes(`\n  ${command.name}`), true, command.name);
    assertEquals(flat(text).includes(command.summary), true, command.summary);
  }
});
