/**
 * Files that look like secrets, which `bundle create` refuses to pack unless
 * told to: environment files, private keys by name (`*.pem`, `*.key`,
 * `id_rsa`…) and by content (a PEM private key block, a lockstep key file).
 *
 * @module
 */

/** Names that hold secrets, each with what it is. */
const NAMES: ReadonlyArray<readonly [RegExp, string]> = [
  [/^\.env(\..*)?$/, "an environment file"],
  [/^id_(rsa|dsa|ecdsa|ed25519)(_sk)?$/, "an SSH private key"],
  [/\.(pem|key|p12|pfx|jks|keystore|ppk)$/i, "a key or certificate store"],
  [/^\.(netrc|pgpass|htpasswd)$/, "a password file"],
];

/** Content that holds a private key. */
const CONTENT: ReadonlyArray<readonly [RegExp, string]> = [
  [/-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----/, "it holds a private key"],
  [/"privateKey"\s*:\s*"/, "it holds a lockstep signing key"],
];

/** What the file at `path` (release-relative) is by its name, when it looks like a secret. */
export function secretByName(path: string): string | undefined {
  const name = path.slice(path.lastIndexOf("/") + 1);
  return NAMES.find(([pattern]) => pattern.test(name))?.[1];
}

/** What `head` (the first bytes of a file) shows, when it holds a secret. */
export function secretInContent(head: Uint8Array): string | undefined {
  const text = new TextDecoder("latin1").decode(head);
  return CONTENT.find(([pattern]) => pattern.test(text))?.[1];
}
