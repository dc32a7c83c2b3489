/**
 * `lockstep feed build`: the publisher's index of a folder of bundles,
 * written unsigned into the feed folder with the bundles beside it.
 *
 * @module
 */
import { command, usage } from "./command.ts";
import { print, printJson } from "./output.ts";

export default command({
  name: "feed build",
  summary: "index a folder of bundles into a feed (unsigned: feed sign next)",
  options: {
    from: { type: "string", value: "DIR", required: true, help: "the folder of bundles (*.zip)" },
    seq: {
      type: "string",
      value: "N",
      required: true,
      help: "the index's sequence number, above the one already published",
    },
    expires: {
      type: "string",
      value: "DURATION",
      required: true,
      help: "how long the index stays valid: 14d, 36h, 90m, 2w",
    },
    channel: { type: "string", value: "C", help: "the channel (default: stable)" },
    out: {
      type: "string",
      value: "DIR",
      required: true,
      help: "the feed folder to write (the bundles are copied there)",
    },
  },
  positionals: [],
  config: "none",
  async run({ values }) {
    const { buildFeed } = await import("../lib/feed/publish.ts");
    const seq = Number(values.seq);
    if (!Number.isSafeInteger(seq) || seq < 0) {
      throw usage(`--seq takes a whole number, not "${values.seq}"`, "feed build");
    }
    const result = await buildFeed({
      from: values.from,
      out: values.out,
      seq,
      expires: values.expires,
      ...(values.channel === undefined ? {} : { channel: values.channel }),
    });
    if (values.json) printJson({ ok: true, ...result });
    else {
      const { feed } = result;
      print(
        `Wrote ${result.index}: ${feed.app}, channel ${feed.channel}, seq ${feed.seq}, ` +
          `${feed.entries.length} entr${feed.entries.length === 1 ? "y" : "ies"}, expires ` +
          `${feed.expires}; ${result.copied} bundle(s) copied.`,
      );
      print(`Sign it: lockstep feed sign --index ${result.index} --key KEYFILE`);
    }
    return 0;
  },
});
