/**
 * `lockstep keygen`: make an Ed25519 signing key file (owner-only, never
 * overwritten) and print the entry that trusts it.
 *
 * @module
 */
import { command } from "./command.ts";
import { print, printJson } from "./output.ts";

export default command({
  name: "keygen",
  summary: "make an Ed25519 signing key (a release key or a feed key); prints its trust entry",
  options: {
    out: {
      type: "string",
      value: "KEYFILE",
      required: true,
      help: "the private key file to write (mode 0600; never overwritten)",
    },
    id: {
      type: "string",
      value: "ID",
      help: "the key id (default: the first 16 hex digits of the public key's SHA-256)",
    },
  },
  positionals: [],
  config: "none",
  async run({ values }) {
    const { keygen } = await import("../lib/bundles/signature.ts");
    const result = await keygen(values.out, values.id === undefined ? {} : { keyId: values.id });
    if (values.json) printJson({ ok: true, ...result });
    else {
      print(`Wrote private key ${result.path} (owner-only; keep it off the servers).`);
      print(
        `Add this to trust.keys in lockstep.json (a release key, for bundles), or to feed.keys ` +
          `(a feed key, for the update feed's index):\n  ${JSON.stringify(result.trustEntry)}`,
      );
    }
    return 0;
  },
});
