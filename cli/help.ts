/**
 * Usage and help text, generated from the command declarations: the list
 * of commands (`lockstep help`), one command's help (`lockstep help
 * COMMAND`, `lockstep COMMAND --help`) and a group's (`lockstep help
 * bundle`). Nothing here names a flag: they all come from `cli/*.ts`.
 *
 * @module
 */
import { VERSION } from "../lib/version.ts";
import {
  type AnyCommand,
  COMMON_OPTIONS,
  type Options,
  type OptionSpec,
  type PositionalSpec,
} from "./command.ts";

const WIDTH = 100;
/** Where summaries start in the command list. */
const SUMMARY_COLUMN = 38;

/**
 * A command's synopsis lines without the leading `lockstep`: its declared
 * `usage`, else its name, positionals, options in order, and the
 * positionals written after `--`.
 */
export function synopsis(command: AnyCommand): readonly string[] {
  if (command.usage) return command.usage;
  const options: Options = command.options;
  const before = command.positionals.filter((p) => !p.afterDashes);
  const after = command.positionals.filter((p) => p.afterDashes);
  return [
    [
      command.name,
      ...before.map(positionalSynopsis),
      ...Object.entries(options).map(([name, spec]) => optionSynopsis(name, spec)),
      ...(after.length ? ["--", ...after.map(positionalSynopsis)] : []),
    ].join(" "),
  ];
}

/** `lockstep help`: every command with its synopsis and summary. */
export function usageText(commands: readonly AnyCommand[]): string {
  return [
    `lockstep ${VERSION}: keep an application's code and databases in lockstep`,
    "",
    "Usage: lockstep [--config PATH] <command> [options]",
    "",
    commandList(commands),
    "",
    "Every command takes --config PATH (before or after the command), --json and --help.",
    `"lockstep help COMMAND" (or "lockstep COMMAND --help") lists a command's options.`,
    "",
    "The config is --config PATH, else $LOCKSTEP_CONFIG (read when --allow-env=LOCKSTEP_CONFIG",
    "is granted), else ./lockstep.json. Exit codes: 0 ok, 1 failed, 2 usage or config,",
    "3 bundles pending, 4 migrations pending, 5 blocked, 6 busy.",
  ].join("\n");
}

/** `lockstep help bundle`: the commands of one group. */
export function groupHelp(group: string, commands: readonly AnyCommand[]): string {
  return [
    `The "${group}" commands:`,
    "",
    commandList(commands),
    "",
    `"lockstep help ${commands[0]!.name}" lists a command's options.`,
  ].join("\n");
}

/** `lockstep help COMMAND`: synopsis, summary, arguments, options, config and related commands. */
export function commandHelp(command: AnyCommand, commands: readonly AnyCommand[]): string {
  const usage = synopsis(command).map((line, i) => {
    const head = `${i === 0 ? "Usage:" : "      "} lockstep ${command.name}`;
    const rest = tokens(line.slice(command.name.length).trim());
    return wrapWords(rest, WIDTH, `${head} `, " ".repeat(head.length + 1));
  });
  const options: Options = command.options;
  const rows = (specs: Options) =>
    Object.entries(specs).map(([name, spec]) => [optionLabel(name, spec), optionHelp(spec)]);
  const args = command.positionals.map((p) => [positionalSynopsis(p), p.help]);
  const optionRows = rows(options);
  const commonRows = rows(COMMON_OPTIONS);
  const labelWidth = Math.min(
    26,
    Math.max(...[...args, ...optionRows, ...commonRows].map(([label]) => label!.length)) + 2,
  );
  const table = (title: string, entries: string[][]) =>
    entries.length === 0 ? [] : ["", title, ...entries.map(([l, h]) => row(l!, h!, labelWidth))];
  const first = command.name.split(" ")[0]!;
  const related = commands.filter((c) =>
    c !== command && (c.name === first || c.name.startsWith(`${first} `))
  );
  return [
    ...usage,
    "",
    wrapWords(sentence(command.summary).split(" "), WIDTH, ""),
    ...table("Arguments:", args),
    ...table("Options:", optionRows),
    ...table("Common options:", commonRows),
    "",
    CONFIG_NEEDS[command.config],
    ...(related.length
      ? [`See also: ${related.map((c) => `lockstep ${c.name}`).join(", ")}.`]
      : []),
  ].join("\n");
}

const CONFIG_NEEDS = {
  required: "It reads lockstep.json (exit 2 when there is none).",
  optional: "It uses lockstep.json when there is one.",
  none: "It reads no lockstep.json.",
} as const;

function commandList(commands: readonly AnyCommand[]): string {
  const lines: string[] = [];
  const pad = " ".repeat(SUMMARY_COLUMN);
  for (const command of commands) {
    const summary = wrapWords(command.summary.split(" "), WIDTH - SUMMARY_COLUMN, "")
      .split("\n");
    for (const [i, line] of synopsis(command).entries()) {
      const last = i === synopsis(command).length - 1;
      const head = `  ${line}`;
      if (!last) lines.push(wrapWords(tokens(line), WIDTH, "  ", continuation(line)));
      else if (head.length <= SUMMARY_COLUMN - 2) {
        lines.push(`${head.padEnd(SUMMARY_COLUMN)}${summary[0]}`);
        lines.push(...summary.slice(1).map((s) => pad + s));
      } else {
        lines.push(wrapWords(tokens(line), WIDTH, "  ", continuation(line)));
        lines.push(...summary.map((s) => pad + s));
      }
    }
  }
  return lines.join("\n");
}

/** Continuation lines of a synopsis start under its first option. */
function continuation(line: string): string {
  const words = line.split(" ");
  const name = words[1] && /^[a-z]+$/.test(words[1]) ? `${words[0]} ${words[1]}` : words[0]!;
  return " ".repeat(2 + name.length + 1);
}

function row(label: string, help: string, width: number): string {
  const pad = " ".repeat(2 + width);
  const text = wrapWords(help.split(" "), WIDTH - 2 - width, "").split("\n");
  const head = label.length < width
    ? `  ${label.padEnd(width)}${text[0]}`
    : `  ${label}\n${pad}${text[0]}`;
  return [head, ...text.slice(1).map((t) => pad + t)].join("\n");
}

function optionSynopsis(name: string, spec: OptionSpec): string {
  const flag = spec.type === "boolean" ? `--${name}` : `--${name} ${spec.value ?? "VALUE"}`;
  return `${spec.required ? flag : `[${flag}]`}${spec.multiple ? "..." : ""}`;
}

function optionLabel(name: string, spec: OptionSpec): string {
  const flag = spec.type === "boolean" ? `--${name}` : `--${name} ${spec.value ?? "VALUE"}`;
  return spec.short ? `-${spec.short}, ${flag}` : flag;
}

function optionHelp(spec: OptionSpec): string {
  const notes = [
    ...(spec.required ? ["required"] : []),
    ...(spec.default === undefined ? [] : [`default: ${spec.default}`]),
    ...(spec.multiple ? ["repeatable"] : []),
  ];
  return notes.length ? `${spec.help} (${notes.join("; ")})` : spec.help;
}

function positionalSynopsis(p: PositionalSpec): string {
  const name = p.choices ? p.choices.join("|") : p.name;
  const shown = p.variadic ? `${name}...` : name;
  return p.optional ? `[${shown}]` : shown;
}

/** The summary as a sentence: capital first, full stop last. */
function sentence(text: string): string {
  const capital = `${text[0]!.toUpperCase()}${text.slice(1)}`;
  return /[.?!]$/.test(capital) ? capital : `${capital}.`;
}

/** Splits a synopsis at spaces outside brackets, so `[--to ID]` stays whole. */
function tokens(line: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let current = "";
  for (const char of line) {
    if (char === "[") depth++;
    if (char === "]") depth--;
    if (char === " " && depth === 0) {
      out.push(current);
      current = "";
    } else current += char;
  }
  return [...out, current];
}

/** Joins words into lines of at most `width` (a longer word stands alone). */
function wrapWords(
  words: readonly string[],
  width: number,
  first: string,
  rest = " ".repeat(first.length),
): string {
  const lines: string[] = [];
  let line = first;
  let empty = true;
  for (const word of words) {
    if (!empty && line.length + 1 + word.length > width) {
      lines.push(line);
      line = rest + word;
    } else line += empty ? word : ` ${word}`;
    empty = false;
  }
  return [...lines, line].join("\n");
}
