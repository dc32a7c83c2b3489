/**
 * `lockstep feed check`: fetch and verify the update feed's index, keep it,
 * and list what applies; downloads nothing. Exit 0 nothing new, 7 updates
 * available, 8 a critical security update applies.
 *
 * @module
 */
import type { FeedCheckResult } from "../mod.ts";
import { command } from "./command.ts";
import { renderEntries } from "./feed_render.ts";
import { print, printJson } from "./output.ts";

export default command({
  name: "feed check",
  summary: "fetch and verify the update feed's index; exit 7 when updates apply, 8 when a " +
    "critical security update does; downloads nothing",
  options: {
    channel: { type: "string", value: "C", help: "check channel C (default: feed.channel)" },
    from: {
      type: "string",
      value: "DIR",
      help: "read the feed from folder DIR (a mirror on removable media) instead of feed.url",
    },
    "allow-expired": {
      type: "boolean",
      help: "accept an index that has expired (every other rule still holds)",
    },
  },
  positionals: [],
  config: "required",
  async run({ config, values }) {
    const { feedCheck } = await import("../lib/feed/check.ts");
    const result = await feedCheck(config, {
      ...(values.channel === undefined ? {} : { channel: values.channel }),
      ...(values.from === undefined ? {} : { from: values.from }),
      allowExpired: values["allow-expired"],
    });
    if (values.json) printJson({ ok: true, ...result });
    else renderCheck(result);
    return result.exitCode;
  },
});

function renderCheck(result: FeedCheckResult): void {
  const count = result.entries.filter((s) => s.state === "update").length;
  const verdict = result.exitCode === 8
    ? `${count} update(s) available, including a critical security update (exit 8)`
    : result.exitCode === 7
    ? `${count} update(s) available (exit 7)`
    : "nothing new";
  print(
    `Feed of ${result.app}, channel ${result.channel}: seq ${result.seq} (${result.accepted}), ` +
      `issued ${result.issued}, expires ${result.expires}, signed by ${result.key}`,
  );
  print(`  from ${result.source}`);
  if (result.expired) print(`  EXPIRED: accepted with --allow-expired`);
  if (result.clock.floor !== null && result.clock.reference !== result.clock.now) {
    print(`  this host's clock (${result.clock.now}) is behind ${result.clock.floor}`);
  }
  renderEntries(result.entries);
  print(
    `${verdict}.${count > 0 ? ` Fetch with "lockstep feed fetch", then "lockstep update".` : ""}`,
  );
}
