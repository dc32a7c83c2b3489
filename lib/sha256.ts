/**
 * SHA-256 through Web Crypto: no module to load, for what runs at every
 * start-up (`check`'s hints and fingerprints, migration checksums).
 *
 * @module
 */

/** Hex SHA-256 of `data` (a string is hashed as UTF-8). */
export async function sha256Hex(data: Uint8Array<ArrayBuffer> | string): Promise<string> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}
