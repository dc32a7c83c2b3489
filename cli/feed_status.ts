/**
 * `lockstep feed status`: the saved update feed, offline: when it was
 * checked, its seq, issue and expiry times, key, whether it is stale, and
 * what it offers.
 *
 * @module
 */
import { command } from "./command.ts";
import { renderEntries } from "./feed_render.ts";
import { print, printJson } from "./output.ts";

export default command({
  name: "feed status",
  summary: "the saved update feed index and what it offers, offline",
  options: {},
  positionals: [],
  config: "required",
  async run({ config, values }) {
    const { feedStatus } = await import("../lib/feed/status.ts");
    const status = await feedStatus(config);
    if (values.json) {
      printJson({ ok: true, ...status });
      return 0;
    }
    print(`Feed ${status.url}, channel ${status.channel}:`);
    const saved = status.saved;
    if (saved === null) print("  no index accepted yet");
    else {
      print(
        `  seq ${saved.seq}, issued ${saved.issued}, expires ${saved.expires}, signed by ` +
          `${saved.key}; last checked ${saved.checked} from ${saved.source}`,
      );
    }
    print(status.stale === null ? "  current" : `  STALE: ${status.stale}`);
    renderEntries(status.entries);
    return 0;
  },
});
