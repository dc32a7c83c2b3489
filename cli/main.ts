/**
 * The command line's one loop: parse, print help when asked, load the
 * config the command needs, run it, and turn any error into its message and
 * exit code (through {@link fail}, the one error boundary).
 *
 * @module
 */
import { VERSION } from "../lib/version.ts";
import type { AnyCommand, Options, Values } from "./command.ts";
import { COMMANDS } from "./commands.ts";
import { loadConfigFor } from "./env.ts";
import { commandHelp, groupHelp, usageText } from "./help.ts";
import { fail, print } from "./output.ts";
import { parseCommandLine, wantsJson } from "./parse.ts";

/** Runs the command line `argv` (`Deno.args`) and returns the exit code. */
export async function main(
  argv: readonly string[],
  commands: readonly AnyCommand[] = COMMANDS,
): Promise<number> {
  try {
    const call = parseCommandLine(argv, commands);
    switch (call.kind) {
      case "usage":
        print(usageText(commands));
        return call.exitCode;
      case "version":
        print(VERSION);
        return 0;
      case "help":
        print(commandHelp(call.command, commands));
        return 0;
      case "group":
        print(groupHelp(call.group, call.commands));
        return 0;
      case "run": {
        const { command, values, args } = call;
        const skip = command.skipConfig?.(values as Values<Options>) ?? false;
        const config = skip
          ? undefined
          : await loadConfigFor(command.config, values.config as string | undefined);
        return await command.run({ config, values: values as Values<Options>, args });
      }
    }
  } catch (error) {
    return fail(error, wantsJson(argv));
  }
}
