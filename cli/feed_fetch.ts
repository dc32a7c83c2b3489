/**
 * `lockstep feed fetch`: download bundles the saved feed index offers into
 * `pending/`: what `feed.fetch` allows unattended, or the names given.
 *
 * @module
 */
import { command } from "./command.ts";
import { downloadProgress, print, printJson } from "./output.ts";

export default command({
  name: "feed fetch",
  summary: "download bundles the update feed offers into pending/ (what feed.fetch allows, or " +
    "the names given)",
  options: {
    "security-only": {
      type: "boolean",
      help: "only security releases (and the releases before them that they upgrade from)",
    },
  },
  positionals: [{
    name: "NAME",
    optional: true,
    variadic: true,
    help: "the app or a pack to fetch (default: what feed.fetch allows unattended)",
  }],
  config: "required",
  async run({ config, values, args }) {
    const { feedFetch } = await import("../lib/feed/fetch.ts");
    const onProgress = downloadProgress(values.json);
    const result = await feedFetch(config, {
      names: args,
      securityOnly: values["security-only"],
      ...(onProgress ? { onProgress } : {}),
    });
    if (values.json) {
      printJson({ ok: true, ...result });
      return 0;
    }
    if (result.partialsRemoved > 0) {
      print(`Removed ${result.partialsRemoved} partial download(s) an interrupted fetch left.`);
    }
    for (const b of result.bundles) {
      const what = `${b.kind === "pack" ? "pack " : ""}${b.name} ${b.version}`;
      print(b.outcome === "fetched" ? `Fetched ${b.file} (${what})` : `Already pending: ${b.file}`);
    }
    if (result.bundles.length === 0) print(`Nothing to fetch (${result.policy}).`);
    else print(`In pending/; install with "lockstep update".`);
    return 0;
  },
});
