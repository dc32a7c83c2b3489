/**
 * lockstep's own version, recorded in backups and shown by `--version`.
 *
 * @module
 */

/** The version of this lockstep release. */
export const VERSION = "0.1.0";
