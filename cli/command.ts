/**
 * What a command declares: its name, summary, options, positionals, whether
 * it needs `lockstep.json`, and `run`. Everything else (parsing, usage text,
 * `lockstep help COMMAND`, "did you mean") is derived from these
 * declarations, so a flag is written once. See alembic's `command.py` and
 * dax's `src/commands/*.ts`.
 *
 * @module
 */
import type { Config } from "../lib/config.ts";
import { LockstepError } from "../lib/errors.ts";

/** How a command uses `lockstep.json`. */
export type ConfigNeed =
  /** It must be there (`CONFIG_NOT_FOUND` otherwise). */
  | "required"
  /** It is used when there is one (and no `--config` was given that does not exist). */
  | "optional"
  /** It is never read. */
  | "none";

/** One option of a command, as `node:util` `parseArgs` takes it, plus what help shows. */
export interface OptionSpec {
  /** A flag (`boolean`) or an option that takes a value (`string`). */
  readonly type: "boolean" | "string";
  /** A one-letter alias (`y` for `-y`). */
  readonly short?: string;
  /** The value's name in usage and help (`SECONDS`); string options only. */
  readonly value?: string;
  /** The value when the option is not given (string options; flags default to false). */
  readonly default?: string;
  /** The option may repeat; its value is the list (default: the last one wins). */
  readonly multiple?: boolean;
  /** The command refuses to run without it. */
  readonly required?: boolean;
  /** One line for `lockstep help COMMAND`. */
  readonly help: string;
}

/** A command's options by long name (`"dry-run"` for `--dry-run`). */
export type Options = Readonly<Record<string, OptionSpec>>;

/** One positional argument. */
export interface PositionalSpec {
  /** Its name in usage and help (`ID`, `FILE`). */
  readonly name: string;
  /** The values it takes (`on`, `off`, `status`), shown as `on|off|status`. */
  readonly choices?: readonly string[];
  /** It may be left out. Only the last positionals may be optional. */
  readonly optional?: boolean;
  /** It takes every remaining argument (the last positional only). */
  readonly variadic?: boolean;
  /** It is written after `--` (the application's own command line). */
  readonly afterDashes?: boolean;
  /** One line for `lockstep help COMMAND`. */
  readonly help: string;
}

/** The options every command takes. */
export const COMMON_OPTIONS = {
  config: {
    type: "string",
    value: "PATH",
    help: "the lockstep.json to use, before or after the command " +
      "(default: $LOCKSTEP_CONFIG, else ./lockstep.json)",
  },
  json: { type: "boolean", help: "print one JSON document on stdout, also on failure" },
  help: { type: "boolean", short: "h", help: "show this help" },
} as const satisfies Options;

type OptionValue<S extends OptionSpec> = S["type"] extends "boolean" ? boolean
  : S extends { readonly multiple: true } ? string[]
  : S extends { readonly required: true } ? string
  : S extends { readonly default: string } ? string
  : string | undefined;

/**
 * Parsed option values: flags are `true` or `false`, repeatable options a
 * list, and other options their string or `undefined`.
 */
export type Values<O extends Options> =
  & { -readonly [K in keyof O]: OptionValue<O[K]> }
  & { -readonly [K in keyof typeof COMMON_OPTIONS]: OptionValue<typeof COMMON_OPTIONS[K]> };

/** The config a command's `run` receives, by its {@link ConfigNeed}. */
export type ConfigFor<N extends ConfigNeed> = N extends "required" ? Config
  : N extends "optional" ? Config | undefined
  : undefined;

/** What `run` receives. */
export interface RunInput<O extends Options, N extends ConfigNeed> {
  /** The loaded config (see {@link ConfigNeed}). */
  readonly config: ConfigFor<N>;
  /** The options, `--json` and `--config` included. */
  readonly values: Values<O>;
  /** The positional arguments, their count already checked. */
  readonly args: readonly string[];
}

/** A command, declared once; see the module doc. */
export interface Command<O extends Options = Options, N extends ConfigNeed = ConfigNeed> {
  /** One or two words: `"check"`, `"backup verify"`. */
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  /**
   * The synopsis, when it says more than the options in order (alternatives
   * such as `stamp ID|--all`, two forms of `new`); default: generated.
   */
  readonly usage?: readonly string[];
  /** The options, besides {@link COMMON_OPTIONS}. */
  readonly options: O;
  /** The positional arguments, in order. */
  readonly positionals: readonly PositionalSpec[];
  /** Whether it reads `lockstep.json`. */
  readonly config: N;
  /**
   * For an `optional` config: true when these values make the command leave
   * lockstep.json unread (`bundle create --app NAME` without `--config`).
   */
  readonly skipConfig?: (values: Values<O>) => boolean;
  /** Calls one `mod.ts` function, renders its result, and returns the exit code. */
  run(input: RunInput<O, N>): Promise<number>;
}

/** A command of any shape, as the registry holds them. */
// deno-lint-ignore no-explicit-any
export type AnyCommand = Command<any, ConfigNeed>;

/** Declares a command; the identity, typed so that `run` sees its own options. */
export function command<const O extends Options, const N extends ConfigNeed>(
  declaration: Command<O, N>,
): Command<O, N> {
  return declaration;
}

/**
 * A usage error (exit 2) in today's wording: "Cannot run lockstep: …", then
 * where to read more (the command's own help when there is one).
 */
export function usage(message: string, command?: string): LockstepError {
  const help = command === undefined ? "lockstep help" : `lockstep help ${command}`;
  return new LockstepError("USAGE", `Cannot run lockstep: ${message}. See "${help}".`);
}

/** Reads a `--lock-timeout`-style value in seconds. */
export function seconds(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) {
    throw usage(`--${flag} takes seconds, not "${value}"`);
  }
  return n;
}
