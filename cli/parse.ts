/**
 * From `Deno.args` to an {@link Invocation}: the command (one or two words,
 * with "did you mean" when it is mistyped), its options parsed strictly by
 * `node:util` `parseArgs` from its declaration, and its positionals counted.
 * `--config`, `--json` and `--help` may also stand before the command
 * (`lockstep --config PATH check`); they are read as if written after it.
 * Pure: it reads nothing and prints nothing.
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { LockstepError } from "../lib/errors.ts";
import { type AnyCommand, COMMON_OPTIONS, type Options, usage } from "./command.ts";
import { didYouMean, oneOf, suggest } from "./suggest.ts";

/** Parsed option values, by long name. */
export type ParsedValues = Record<string, string | boolean | string[] | undefined>;

/** What the command line asks for. */
export type Invocation =
  /** The list of commands: `lockstep help` (exit 0), or nothing at all (exit 2). */
  | { readonly kind: "usage"; readonly exitCode: 0 | 2 }
  /** `lockstep --version`. */
  | { readonly kind: "version" }
  /** `lockstep help COMMAND` or `lockstep COMMAND --help`. */
  | { readonly kind: "help"; readonly command: AnyCommand }
  /** `lockstep help bundle`: the commands that start with that word. */
  | { readonly kind: "group"; readonly group: string; readonly commands: readonly AnyCommand[] }
  /** Run a command. */
  | {
    readonly kind: "run";
    readonly command: AnyCommand;
    readonly values: ParsedValues;
    readonly args: string[];
  };

/** What {@link parseCommandArgs} read. */
export interface ParsedArgs {
  /** The options, defaults filled in: flags `false`, repeatable options `[]`. */
  readonly values: ParsedValues;
  /** The positionals. */
  readonly args: string[];
  /** `--help` was given: nothing else was checked. */
  readonly help: boolean;
}

/** True when `--json` stands before any `--`: errors are then printed as JSON. */
export function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf("--");
  return (end === -1 ? argv : argv.slice(0, end)).includes("--json");
}

/** Reads the whole command line; throws `USAGE` errors (exit 2). */
export function parseCommandLine(
  argv: readonly string[],
  commands: readonly AnyCommand[],
): Invocation {
  const { globals, version, rest } = leadingOptions(argv);
  if (version) return { kind: "version" };
  if (rest[0] === undefined) return { kind: "usage", exitCode: globals.includes("--help") ? 0 : 2 };
  if (rest[0] === "help") return helpFor(rest.slice(1), commands);
  const found = resolve(rest, commands);
  if ("group" in found) {
    const names = found.commands.map((c) => `"${c.name}"`);
    throw usage(`"${found.group}" needs a subcommand: ${oneOf(names)}`, found.group);
  }
  const parsed = parseCommandArgs(found.command, [...globals, ...rest.slice(found.words)]);
  if (parsed.help) return { kind: "help", command: found.command };
  return { kind: "run", command: found.command, values: parsed.values, args: parsed.args };
}

/**
 * Parses a command's own arguments against its declaration: unknown options
 * (with "did you mean"), missing values, required options and the number of
 * positionals are `USAGE` errors. With `--help` only the options are checked.
 */
export function parseCommandArgs(command: AnyCommand, args: readonly string[]): ParsedArgs {
  const specs: Options = { ...COMMON_OPTIONS, ...command.options };
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      options: forParseArgs(specs),
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw optionError(error, specs, command.name);
  }
  const values = { ...parsed.values } as ParsedValues;
  for (const [name, spec] of Object.entries(specs)) {
    values[name] ??= spec.type === "boolean" ? false : spec.multiple ? [] : undefined;
  }
  const help = values.help === true;
  if (!help) {
    for (const [name, spec] of Object.entries(command.options as Options)) {
      if (spec.required && values[name] === undefined) {
        throw usage(`${command.name} needs --${name} ${spec.value ?? "VALUE"}`, command.name);
      }
    }
    checkPositionals(command, parsed.positionals);
  }
  return { values, args: parsed.positionals, help };
}

/** The declarations as `parseArgs` takes them. */
function forParseArgs(specs: Options): NonNullable<ParseArgsConfig["options"]> {
  return Object.fromEntries(
    Object.entries(specs).map(([name, spec]) => [name, {
      type: spec.type,
      ...(spec.short === undefined ? {} : { short: spec.short }),
      ...(spec.multiple ? { multiple: true } : {}),
      ...(spec.default === undefined ? {} : { default: spec.default }),
    }]),
  );
}

/**
 * Splits off the options before the command. Only the common ones may stand
 * there; they are handed back as tokens to parse with the command's own.
 */
function leadingOptions(argv: readonly string[]) {
  let end = 0;
  while (end < argv.length && argv[end]!.startsWith("-") && argv[end] !== "--") {
    end += argv[end] === "--config" ? 2 : 1;
  }
  const specs = { ...COMMON_OPTIONS, version: { type: "boolean", help: "" } } as const;
  let values;
  try {
    ({ values } = parseArgs({
      args: argv.slice(0, end),
      options: forParseArgs(specs),
      strict: true,
    }));
  } catch (error) {
    throw optionError(error, specs);
  }
  const globals = [
    ...(values.config === undefined ? [] : [`--config=${values.config}`]),
    ...(values.json ? ["--json"] : []),
    ...(values.help ? ["--help"] : []),
  ];
  return { globals, version: values.version === true, rest: argv.slice(end) };
}

/** `lockstep help [COMMAND]`. */
function helpFor(tokens: readonly string[], commands: readonly AnyCommand[]): Invocation {
  const words = tokens.filter((token, i) => !token.startsWith("-") && tokens[i - 1] !== "--config");
  if (words.length === 0) return { kind: "usage", exitCode: 0 };
  const found = resolve(words, commands);
  if ("group" in found) return { kind: "group", ...found };
  if (words.length > found.words) {
    throw usage(`"help" takes one command, not "${words.join(" ")}"`);
  }
  return { kind: "help", command: found.command };
}

type Resolved =
  | { readonly command: AnyCommand; readonly words: 1 | 2 }
  | { readonly group: string; readonly commands: readonly AnyCommand[] };

/**
 * Finds the command named by the first one or two words: `backup verify`
 * before `backup`; a group word alone (`bundle`) resolves to its commands.
 */
function resolve(tokens: readonly string[], commands: readonly AnyCommand[]): Resolved {
  const [first, next] = tokens as [string, string | undefined];
  const second = next !== undefined && !next.startsWith("-") ? next : undefined;
  const named = (name: string) => commands.find((c) => c.name === name);
  const two = second === undefined ? undefined : named(`${first} ${second}`);
  if (two) return { command: two, words: 2 };
  const one = named(first);
  const members = commands.filter((c) => c.name.startsWith(`${first} `));
  if (one && (members.length === 0 || second === undefined || one.positionals.length > 0)) {
    return { command: one, words: 1 };
  }
  if (members.length > 0 && second === undefined) return { group: first, commands: members };
  if (members.length > 0) {
    const subcommands = members.map((c) => c.name.slice(first.length + 1));
    const close = suggest(second!, subcommands).map((s) => `${first} ${s}`);
    throw unknownCommand(`${first} ${second}`, close, first);
  }
  const words = new Set(commands.map((c) => c.name.split(" ")[0]!));
  throw unknownCommand(first, suggest(first, [...words]));
}

function unknownCommand(name: string, suggestions: readonly string[], group?: string) {
  const help = group === undefined ? "lockstep help" : `lockstep help ${group}`;
  return new LockstepError(
    "USAGE",
    `Unknown command "${name}".${didYouMean(suggestions) || ` See "${help}".`}`,
    { data: { command: name, suggestions: [...suggestions] } },
  );
}

/** A `parseArgs` error as a `USAGE` error; an unknown option gets "did you mean". */
function optionError(error: unknown, specs: Options, command?: string): LockstepError {
  const message = error instanceof Error ? error.message : String(error);
  if ((error as { code?: unknown }).code !== "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
    return usage(message, command);
  }
  const option = /'([^']+)'/.exec(message)?.[1] ?? message;
  if (command === undefined) {
    return new LockstepError(
      "USAGE",
      `Unknown option "${option}" before the command: only --config, --json, --help and ` +
        `--version may stand there. See "lockstep help".`,
      { data: { option, suggestions: [] } },
    );
  }
  const suggestions = option.startsWith("--")
    ? suggest(option.slice(2), Object.keys(specs)).map((name) => `--${name}`)
    : [];
  return new LockstepError(
    "USAGE",
    `Unknown option "${option}" for "${command}".` +
      (didYouMean(suggestions) || ` See "lockstep help ${command}".`),
    { data: { command, option, suggestions } },
  );
}

function checkPositionals(command: AnyCommand, args: readonly string[]): void {
  const specs = command.positionals;
  const min = specs.filter((p) => !p.optional).length;
  const max = specs.some((p) => p.variadic) ? Infinity : specs.length;
  const name = command.name;
  if (args.length < min) {
    const missing = specs[args.length]!;
    const what = missing.choices
      ? oneOf(missing.choices)
      : `${/^[AEIOU]/i.test(missing.name) ? "an" : "a"} ${missing.name}`;
    throw usage(`"${name}" needs ${what}${missing.afterDashes ? ` after "--"` : ""}`, name);
  }
  if (args.length > max) {
    const got = args.map((a) => `"${a}"`).join(", ");
    if (max === 0) throw usage(`"${name}" takes no arguments, but got ${got}`, name);
    const taken = `${min === max ? "" : "at most "}${max} argument${max === 1 ? "" : "s"}`;
    const names = specs.map((p) => p.name).join(" ");
    throw usage(`"${name}" takes ${taken} (${names}), but got ${args.length}: ${got}`, name);
  }
}
