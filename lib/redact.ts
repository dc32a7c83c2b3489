/**
 * Masks credentials in database URLs and in any text that may carry one.
 *
 * @module
 */

// scheme://user:password@host → scheme://user:***@host. The password runs to
// the last "@" of the word, so one holding "@", ":" or "/" is masked whole
// (masking too much is safe, too little is not); no ":" means no password.
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s:@/]*):(\S*)@/gi;
// key=value password settings in connection strings and error texts.
const PASSWORD_SETTING = /\b(password|pass|pwd)=([^\s&;]+)/gi;

/**
 * Permissions: none.
 *
 * @throws Nothing.
 * @example
 * ```ts ignore
 * redact("postgres://shop:hunter2@db/shop"); // "postgres://shop:***@db/shop"
 * ```
 */
export function redact(text: string): string {
  return text
    .replace(URL_CREDENTIALS, (_all, scheme: string, user: string) => `${scheme}${user}:***@`)
    .replace(PASSWORD_SETTING, (_all, key: string) => `${key}=***`);
}

/** Replaces every occurrence of each secret in `text` with `***`. */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length >= 3) out = out.split(secret).join("***");
  }
  return redact(out);
}
