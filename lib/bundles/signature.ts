/**
 * Ed25519 keys and bundle signatures (WebCrypto, no shelling out).
 * `bundle.sig` is `{ "key": "<key id>", "sig": "<base64 signature of the
 * exact bytes of bundle.json>" }`; `trust.keys` maps ids to public keys as
 * `"<key id>:<base64 of the raw 32-byte public key>"`.
 *
 * @module
 */
import { LockstepError } from "../errors.ts";
import { sha256Hex } from "../sha256.ts";

const KEY_ID = /^[A-Za-z0-9._-]+$/;

/** The private key file `keygen` writes. */
interface KeyFile {
  key: string;
  privateKey: string;
  publicKey: string;
}

/** What `keygen` made. */
export interface KeygenResult {
  /** The key file written (owner-only). */
  readonly path: string;
  /** The key id. */
  readonly keyId: string;
  /** The entry to add to `trust.keys`. */
  readonly trustEntry: string;
}

function toBase64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

function fromBase64(text: string): Uint8Array<ArrayBuffer> | undefined {
  try {
    return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}

/**
 * Makes an Ed25519 key pair and writes the private key file at `path`,
 * readable by its owner only; refuses to overwrite.
 *
 * Permissions: `--allow-write` on the key file's folder (and `--allow-read` there, to refuse an
 * existing file).
 *
 * @throws {LockstepError} `USAGE` (bad key id), `KEY_EXISTS`.
 * @example
 * ```ts ignore
 * const { trustEntry } = await keygen("/secure/release.key");
 * ```
 */
export async function keygen(
  path: string,
  options: { keyId?: string } = {},
): Promise<KeygenResult> {
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  const keyId = options.keyId ?? (await sha256Hex(raw)).slice(0, 16);
  if (!KEY_ID.test(keyId)) {
    throw new LockstepError(
      "USAGE",
      `Cannot make key "${keyId}": a key id is letters, digits, ".", "_" or "-".`,
    );
  }
  const file: KeyFile = { key: keyId, privateKey: toBase64(pkcs8), publicKey: toBase64(raw) };
  try {
    await Deno.writeTextFile(path, JSON.stringify(file, null, 2) + "\n", {
      createNew: true,
      mode: 0o600,
    });
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) {
      throw new LockstepError(
        "KEY_EXISTS",
        `Cannot write key file "${path}": it exists already. Nothing was changed.`,
        {
          cause: error,
          data: { path },
        },
      );
    }
    // It was not there before (createNew): a key file cut short by a full disk goes again.
    await Deno.remove(path).catch((gone) => {
      if (!(gone instanceof Deno.errors.NotFound)) throw gone;
    });
    throw error;
  }
  await Deno.chmod(path, 0o600);
  return { path, keyId, trustEntry: `${keyId}:${file.publicKey}` };
}

/**
 * Signs `manifest` (the exact bytes of bundle.json) with the key file at `path`.
 *
 * @throws {LockstepError} `KEY_INVALID`.
 */
export async function sign(manifest: Uint8Array<ArrayBuffer>, path: string): Promise<Uint8Array> {
  let file: KeyFile;
  try {
    file = JSON.parse(await Deno.readTextFile(path));
  } catch (error) {
    throw new LockstepError(
      "KEY_INVALID",
      `Cannot sign with key file "${path}": ${(error as Error).message}.`,
      { cause: error },
    );
  }
  const pkcs8 = typeof file.privateKey === "string" ? fromBase64(file.privateKey) : undefined;
  if (pkcs8 === undefined || typeof file.key !== "string" || !KEY_ID.test(file.key)) {
    throw new LockstepError(
      "KEY_INVALID",
      `Cannot sign with key file "${path}": it is not a lockstep key file.`,
    );
  }
  const key = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "Ed25519" }, false, ["sign"]);
  const sig = new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, key, manifest));
  return new TextEncoder().encode(JSON.stringify({ key: file.key, sig: toBase64(sig) }) + "\n");
}

/** The outcome of checking a bundle's signature. */
export type SignatureStatus =
  | { readonly state: "valid"; readonly key: string }
  | { readonly state: "unsigned" }
  | { readonly state: "invalid"; readonly reason: string };

/**
 * Checks `sig` (the bytes of bundle.sig, if any) over `manifest` against `trustKeys`.
 *
 * @throws {LockstepError} `CONFIG_INVALID` for a malformed `trust.keys` entry.
 */
export async function verify(
  manifest: Uint8Array<ArrayBuffer>,
  sig: Uint8Array | undefined,
  trustKeys: readonly string[],
): Promise<SignatureStatus> {
  if (sig === undefined) return { state: "unsigned" };
  let parsed: { key?: unknown; sig?: unknown };
  try {
    parsed = JSON.parse(new TextDecoder().decode(sig));
  } catch {
    return { state: "invalid", reason: "bundle.sig is not JSON" };
  }
  if (typeof parsed.key !== "string" || typeof parsed.sig !== "string") {
    return { state: "invalid", reason: 'bundle.sig needs "key" and "sig"' };
  }
  const signature = fromBase64(parsed.sig);
  if (signature === undefined || signature.length !== 64) {
    return { state: "invalid", reason: "the signature is not 64 bytes of base64" };
  }
  const trusted = trustKeys.map(parseTrustKey).find((k) => k.id === parsed.key);
  if (trusted === undefined) {
    return { state: "invalid", reason: `key "${parsed.key}" is not in trust.keys` };
  }
  const key = await crypto.subtle.importKey("raw", trusted.raw, { name: "Ed25519" }, false, [
    "verify",
  ]);
  const ok = await crypto.subtle.verify({ name: "Ed25519" }, key, signature, manifest);
  return ok
    ? { state: "valid", key: trusted.id }
    : { state: "invalid", reason: `the signature does not match key "${trusted.id}"` };
}

function parseTrustKey(entry: string): { id: string; raw: Uint8Array<ArrayBuffer> } {
  const colon = entry.indexOf(":");
  const id = entry.slice(0, colon);
  const raw = colon > 0 ? fromBase64(entry.slice(colon + 1)) : undefined;
  if (!KEY_ID.test(id) || raw === undefined || raw.length !== 32) {
    throw new LockstepError(
      "CONFIG_INVALID",
      `Cannot use trust key "${
        entry.slice(0, 40)
      }": write it as "<key id>:<base64 of the 32-byte public key>" ` +
        `(as keygen prints it).`,
    );
  }
  return { id, raw };
}
