/**
 * The hints that let `check` skip work it did at an earlier start, as git's
 * index lets `git status` skip files: a migration file whose size, times and
 * inode are the ones recorded is not read and hashed again; a pending bundle
 * file likewise is not opened again (an app bundle's verdict is kept with
 * the hash of what else judging it read: the app, trust, protected paths,
 * folders and versions); a database whose catalog fingerprint and drift
 * record are those of a comparison that found no drift is not compared
 * table by table again (`migrate` judges drift with this hint too); and when
 * every input of the migration status (each migration file's identity, each
 * ledger's fingerprint, the packages configured) is as recorded, the status
 * itself is taken from the cache: no file is read and nothing is planned.
 *
 * Only a hint: a missing, damaged or foreign cache, or any mismatch, means
 * the full work, and the answer is the same either way. A file changed
 * within {@link RACY_MS} of being read is never recorded (its times may not
 * have moved yet when it changes again: git's "racily clean" entries). It
 * is written with a rename, only by a process that may write to the updates
 * folder; what it records comes from lockstep's own reading, so it is as
 * trusted as the rest of that folder.
 *
 * @module
 */
import type { Config } from "./config.ts";
import { workFolder } from "./oplock.ts";

/**
 * A file younger than this (by mtime or ctime) when it was read is not
 * recorded: a change made after the read, within the same tick of the file
 * system's clock, would leave its times as they were. Two seconds covers the
 * coarsest clock a Linux file system keeps (FAT's 2-second mtime).
 */
export const RACY_MS = 2000;

const FORMAT = 1;

/** The identity of a file as `stat` gives it: size, mtime, ctime, inode, device. */
export function fileIdentity(info: Deno.FileInfo): string {
  return [
    info.size,
    info.mtime?.getTime() ?? 0,
    info.ctime?.getTime() ?? 0,
    info.ino ?? 0,
    info.dev,
  ].join(":");
}

/** True when the file was last changed long enough before `readAt` to be recorded. */
export function settled(info: Deno.FileInfo, readAt: number): boolean {
  const changed = Math.max(info.mtime?.getTime() ?? Infinity, info.ctime?.getTime() ?? Infinity);
  return readAt - changed >= RACY_MS;
}

/** What was read from a migration file, while it keeps its identity. */
export interface FileHint {
  /** {@link fileIdentity} when it was read. */
  readonly id: string;
  /** Its versioned checksum. */
  readonly checksum: string;
  /** For a `.sql` file: its directives (everything but the SQL text). */
  readonly sql?: SqlFacts;
}

/** The parts of a `.sql` migration the plan needs, without its SQL. */
export interface SqlFacts {
  readonly dependsOn: readonly string[];
  readonly transaction: boolean;
  readonly info: string;
  readonly release?: string;
  readonly phase?: "contract";
  readonly down: boolean;
}

/** What was found in a pending bundle file, while it keeps its identity. */
export interface BundleHint {
  /** {@link fileIdentity} when it was read (and the limits it was opened under). */
  readonly id: string;
  /** Why the file could not be opened as a bundle, when it could not (whatever the config). */
  readonly problem?: { readonly code: string; readonly message: string };
  /**
   * The bundle as it was judged (its manifest without the file lists), and
   * `context`: the hash of everything else judging it read (the app, trust,
   * protected paths, folders, versions).
   */
  readonly judged?: { readonly context: string; readonly bundle: Record<string, unknown> };
}

/** A database whose live schema matched its drift record. */
export interface SchemaHint {
  /** The database's URL (credentials masked) and the schemas read. */
  readonly where: string;
  /** The catalog fingerprint and the record's fingerprint, when they matched. */
  readonly fingerprint: string;
  /** The catalog per table at that fingerprint, when `migrate` read it (for its next record). */
  readonly tables?: Readonly<Record<string, string>>;
}

/** The migration status as computed from inputs with one identity (see `statusWith`). */
export interface StatusHint {
  /** SHA-256 of the identities of every input. */
  readonly key: string;
  /** The status, as JSON. */
  readonly value: unknown;
}

/** The whole cache. Mutable while `check` runs; saved at its end when anything changed. */
export class CheckCache {
  files: Record<string, FileHint> = {};
  bundles: Record<string, BundleHint> = {};
  schema: Record<string, SchemaHint> = {};
  status: StatusHint | undefined;
  #changed = false;
  #used = { files: new Set<string>(), bundles: new Set<string>() };

  /** The hint for migration file `path` if it still has identity `id`. */
  file(path: string, id: string): FileHint | undefined {
    this.#used.files.add(path);
    const hint = this.files[path];
    return hint?.id === id && wellFormed(hint) ? hint : undefined;
  }

  /**
   * Keeps the hint of migration file `path` though it was not read this time
   * (the status came whole from its hint): it is for when another file changes.
   */
  keepFile(path: string): void {
    this.#used.files.add(path);
  }

  /** Records what was read from migration file `path`. */
  rememberFile(path: string, hint: FileHint): void {
    this.#used.files.add(path);
    this.files[path] = hint;
    this.#changed = true;
  }

  /** Drops the hint of migration file `path`: it no longer describes the file. */
  forgetFile(path: string): void {
    if (!(path in this.files)) return;
    delete this.files[path];
    this.#changed = true;
  }

  /** The hint for pending bundle `path` if it still has identity `id`. */
  bundle(path: string, id: string): BundleHint | undefined {
    this.#used.bundles.add(path);
    const hint = this.bundles[path];
    if (hint?.id !== id) return undefined;
    const { judged, problem } = hint;
    const known = isRecord(judged) && typeof judged.context === "string" &&
      isRecord(judged.bundle) && judged.bundle.path === path;
    const refused = isRecord(problem) && typeof problem.code === "string" &&
      typeof problem.message === "string";
    return known || refused ? hint : undefined;
  }

  /** Records what was read from bundle `path`. */
  rememberBundle(path: string, hint: BundleHint): void {
    this.#used.bundles.add(path);
    this.bundles[path] = hint;
    this.#changed = true;
  }

  /** The status recorded for inputs with identity `key`, if it is that one. */
  statusFor(key: string): unknown {
    return this.status?.key === key ? this.status.value : undefined;
  }

  /** Records the status computed from inputs with identity `key`. */
  rememberStatus(key: string, value: unknown): void {
    if (this.status?.key === key) return;
    this.status = { key, value };
    this.#changed = true;
  }

  /** True when database `name` at `where` had this fingerprint when it last matched its record. */
  schemaMatched(name: string, where: string, fingerprint: string): boolean {
    const hint = this.schema[name];
    return hint?.where === where && hint.fingerprint === fingerprint;
  }

  /**
   * The catalog per table that database `name` at `where` had at this
   * fingerprint, if `migrate` recorded it: equal fingerprints mean an
   * unchanged catalog, so it is still the catalog's.
   */
  schemaTables(name: string, where: string, fingerprint: string): Map<string, string> | undefined {
    const tables = this.schemaMatched(name, where, fingerprint)
      ? this.schema[name]!.tables
      : undefined;
    if (!isRecord(tables) || !Object.values(tables).every((v) => typeof v === "string")) {
      return undefined;
    }
    return new Map(Object.entries(tables) as [string, string][]);
  }

  /**
   * Records (or, with `null`, forgets) that database `name` matched its
   * record, with the catalog per table when it was read.
   */
  rememberSchema(
    name: string,
    where: string,
    fingerprint: string | null,
    tables?: ReadonlyMap<string, string>,
  ): void {
    const hint = this.schema[name];
    if (fingerprint === null) {
      if (hint === undefined) return;
      delete this.schema[name];
    } else {
      const same = hint?.where === where && hint.fingerprint === fingerprint;
      if (same && (tables === undefined || hint.tables !== undefined)) return;
      this.schema[name] = {
        where,
        fingerprint,
        ...(tables ? { tables: Object.fromEntries(tables) } : same ? { tables: hint.tables } : {}),
      };
    }
    this.#changed = true;
  }

  /** Entries of files and bundles this run did not look at (gone or no longer configured). */
  #unused(): boolean {
    return Object.keys(this.files).some((p) => !this.#used.files.has(p)) ||
      Object.keys(this.bundles).some((p) => !this.#used.bundles.has(p));
  }

  /**
   * Writes the cache when something changed and the updates folder may be
   * written without asking; with `prune` (a whole `check`), the files and
   * bundles not looked at this run are dropped (gone, or no longer
   * configured); without (`migrate`, which reads only the schema hints),
   * they are kept. Never fails: a cache not written is only work to do again.
   */
  async save(config: Pick<Config, "updates">, options: { prune?: boolean } = {}): Promise<void> {
    const { prune = true } = options;
    if (!this.#changed && !(prune && this.#unused())) return;
    const folder = workFolder(config);
    const granted = Deno.permissions.querySync({ name: "write", path: folder }).state;
    if (granted !== "granted") return;
    const keep = <T>(all: Record<string, T>, used: Set<string>) =>
      prune ? Object.fromEntries(Object.entries(all).filter(([path]) => used.has(path))) : all;
    const text = JSON.stringify({
      format: FORMAT,
      files: keep(this.files, this.#used.files),
      bundles: keep(this.bundles, this.#used.bundles),
      schema: this.schema,
      ...(this.status === undefined ? {} : { status: this.status }),
    });
    const path = cachePath(config);
    const temp = `${path}.${crypto.randomUUID()}.tmp`;
    try {
      await Deno.mkdir(folder, { recursive: true });
      await Deno.writeTextFile(temp, text, { mode: 0o600 });
      await Deno.rename(temp, path);
    } catch {
      await Deno.remove(temp).catch(() => undefined);
    }
  }

  /** The cache `check` saved last; an empty one when there is none or it cannot be used. */
  static read(config: Pick<Config, "updates">): CheckCache {
    const cache = new CheckCache();
    let parsed: unknown;
    try {
      parsed = JSON.parse(Deno.readTextFileSync(cachePath(config)));
    } catch {
      // Missing, unreadable, not granted or damaged: only work to do again.
      return cache;
    }
    if (!isRecord(parsed) || parsed.format !== FORMAT) return cache;
    const { files, bundles, schema } = parsed;
    if (isRecord(files)) cache.files = files as Record<string, FileHint>;
    if (isRecord(bundles)) cache.bundles = bundles as Record<string, BundleHint>;
    if (isRecord(schema)) cache.schema = schema as Record<string, SchemaHint>;
    const status = parsed.status;
    if (isRecord(status) && typeof status.key === "string" && isRecord(status.value)) {
      cache.status = { key: status.key, value: status.value };
    }
    return cache;
  }
}

/** A hint as this version writes it (a cache is never trusted to be well-formed). */
function wellFormed(hint: FileHint): boolean {
  if (typeof hint.checksum !== "string") return false;
  const facts = hint.sql;
  if (facts === undefined) return true;
  return Array.isArray(facts.dependsOn) && facts.dependsOn.every((d) => typeof d === "string") &&
    typeof facts.transaction === "boolean" && typeof facts.info === "string" &&
    (facts.release === undefined || typeof facts.release === "string") &&
    (facts.phase === undefined || facts.phase === "contract") && typeof facts.down === "boolean";
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Where the cache lives: lockstep's work folder in the updates folder. */
export function cachePath(config: Pick<Config, "updates">): string {
  return `${workFolder(config)}/check-cache.json`;
}
