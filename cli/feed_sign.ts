/**
 * `lockstep feed sign`: sign a feed index with a key file (made by
 * `keygen`), writing its `.sig` beside it.
 *
 * @module
 */
import { command } from "./command.ts";
import { print, printJson } from "./output.ts";

export default command({
  name: "feed sign",
  summary: "sign a feed index; writes its .sig beside it",
  options: {
    index: {
      type: "string",
      value: "FILE",
      required: true,
      help: "the index (feed-<channel>.json)",
    },
    key: { type: "string", value: "KEYFILE", required: true, help: "the feed key file (keygen)" },
  },
  positionals: [],
  config: "none",
  async run({ values }) {
    const { signFeed } = await import("../lib/feed/publish.ts");
    const result = await signFeed(values.index, values.key);
    if (values.json) printJson({ ok: true, ...result });
    else {print(
        `Signed ${values.index} (seq ${result.seq}) with key ${result.key}: ${result.signature}`,
      );}
    return 0;
  },
});
