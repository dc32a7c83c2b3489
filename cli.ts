/**
 * The lockstep command line: `deno run <flags> cli.ts <command>`. The
 * commands live in `cli/`, one file each; run `cli.ts help` for the list.
 *
 * @module
 */
import { main } from "./cli/main.ts";

if (import.meta.main) Deno.exit(await main(Deno.args));
