/**
 * `lockstep bundle create`: pack a release folder into an update bundle,
 * optionally signed. Runs with or without a `lockstep.json`: with one, the
 * app name comes from it and its protected paths are refused; `--app NAME`
 * without `--config` reads none (a build host needs no app config).
 *
 * @module
 */
import { command, usage } from "./command.ts";
import { print, printJson } from "./output.ts";

export default command({
  name: "bundle create",
  summary: "pack a release folder into an update bundle",
  options: {
    from: {
      type: "string",
      value: "DIR",
      required: true,
      help: "the release folder (the code as shipped)",
    },
    base: {
      type: "string",
      value: "DIR",
      help: "the previous release folder: its files missing from DIR are removed",
    },
    version: { type: "string", value: "V", required: true, help: "the release's version" },
    pack: {
      type: "string",
      value: "NAME",
      help: "make a pack bundle: DIR is the pack's folder, its lockstep-package.json naming " +
        "NAME and V",
    },
    "upgrades-from": {
      type: "string",
      value: "RANGE",
      help: "the installed versions it applies to (npm range syntax)",
    },
    notes: { type: "string", value: "FILE", help: "a text file with the release notes" },
    security: { type: "boolean", help: "mark it a security release" },
    exclude: {
      type: "string",
      value: "GLOB",
      multiple: true,
      help: "leave out matching paths: neither packed nor removed (as DIR/.lockstepignore does)",
    },
    include: {
      type: "string",
      value: "GLOB",
      multiple: true,
      help: "pack matching files that look like secrets (.env, private keys) all the same",
    },
    "follow-links": {
      type: "boolean",
      help: "pack the content of links whose target is inside DIR (default: refuse links)",
    },
    sign: { type: "string", value: "KEYFILE", help: "sign it with this key file (see keygen)" },
    out: { type: "string", value: "FILE", required: true, help: "the bundle file to write" },
    app: {
      type: "string",
      value: "NAME",
      help: "the app name (default: lockstep.json's); without --config, no lockstep.json is read",
    },
    database: {
      type: "string",
      value: "TEXT",
      multiple: true,
      help: "a line for the manifest's list of database changes",
    },
    "requires-deno": {
      type: "string",
      value: "RANGE",
      help: "the Deno versions the release needs (npm range syntax)",
    },
  },
  positionals: [],
  config: "optional",
  skipConfig: (values) => values.app !== undefined && values.config === undefined,
  async run({ config, values }) {
    const { createBundle } = await import("../lib/bundles/create.ts");
    const app = values.app ?? config?.app;
    if (app === undefined) {
      throw usage("bundle create needs --app NAME when there is no lockstep.json", "bundle create");
    }
    const result = await createBundle({
      from: values.from,
      version: values.version,
      out: values.out,
      app,
      security: values.security,
      exclude: values.exclude,
      include: values.include,
      followLinks: values["follow-links"],
      ...(config ? { config } : {}),
      ...(values.base ? { base: values.base } : {}),
      ...(values.pack ? { pack: values.pack } : {}),
      ...(values["upgrades-from"] ? { upgradesFrom: values["upgrades-from"] } : {}),
      ...(values.notes ? { notes: await Deno.readTextFile(values.notes) } : {}),
      ...(values.sign ? { signWith: values.sign } : {}),
      ...(values.database.length > 0 ? { database: values.database } : {}),
      ...(values["requires-deno"] ? { requires: { deno: values["requires-deno"] } } : {}),
    });
    if (values.json) printJson({ ok: true, ...result });
    else {
      print(
        `Wrote ${result.path}: ${app} ${
          values.pack ? `pack ${values.pack} ` : ""
        }${result.version}, ` +
          `${result.files} file(s), ${result.bytes} bytes, ` +
          `${result.remove.length} removal(s), ${result.signed ? "signed" : "unsigned"}.`,
      );
    }
    return 0;
  },
});
