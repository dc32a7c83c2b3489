/**
 * The publisher's side of the feed: {@link buildFeed} indexes a folder of
 * bundles (each one's hash and size, and the release fields of its own
 * manifest) into `feed-<channel>.json`, copying the bundles beside it, and
 * {@link signFeed} signs an index with a key file (`keygen` makes feed keys
 * as it makes release keys). A release is `bundle create … --sign`, `feed
 * build`, `feed sign`, then copying the folder to a web server or a USB
 * stick. Published bundles never change: a different file under a published
 * name is refused, and `seq` must rise.
 *
 * @module
 */
import { basename, dirname, join, relative, resolve, sep } from "node:path";
import { DEFAULT_LIMITS } from "../config.ts";
import { LockstepError } from "../errors.ts";
import { writeFileAtomic } from "../files.ts";
import { hashFile } from "../hashing.ts";
import { openBundle } from "../bundles/archive.ts";
import { sign } from "../bundles/signature.ts";
import { CHANNEL } from "./config.ts";
import { identityOf } from "./packs.ts";
import { type FeedEntry, type FeedIndex, parseIndex } from "./index.ts";
import { indexNames } from "./saved.ts";

/** Options for {@link buildFeed}. */
export interface BuildFeedOptions {
  /** The folder of bundles (`*.zip`, at any depth; hidden names skipped). */
  from: string;
  /** The feed folder to write (the bundles are copied there unless it is `from`). */
  out: string;
  /** The index's sequence number: above the one already in `out`. */
  seq: number;
  /** How long it stays valid: `14d`, `36h`, `90m`, `2w`. */
  expires: string;
  /** The channel (default `stable`). */
  channel?: string;
  /** The issue time (default: now). */
  now?: Date;
}

/** What {@link buildFeed} wrote. */
export interface BuildFeedResult {
  /** The index file written (unsigned: run `feed sign` next). */
  readonly index: string;
  /** The index itself. */
  readonly feed: FeedIndex;
  /** Bundles copied into `out` (0 when `out` is `from`). */
  readonly copied: number;
}

const UNITS: Readonly<Record<string, number>> = { m: 60e3, h: 3600e3, d: 86400e3, w: 604800e3 };

/** Milliseconds of a duration such as `14d`. */
export function parseDuration(text: string): number {
  const match = /^(\d{1,6})([mhdw])$/.exec(text);
  if (match === null || Number(match[1]) === 0) {
    throw new LockstepError(
      "USAGE",
      `Cannot run lockstep: --expires takes a duration such as 14d, 36h, 90m or 2w, not "${text}".`,
    );
  }
  return Number(match[1]) * UNITS[match[2]!]!;
}

/**
 * Indexes a folder of bundles into an unsigned feed index
 * (`<out>/feed-<channel>.json`), copying the bundles into `out`.
 *
 * Permissions: `--allow-read` on `from` and `out`; `--allow-write` on `out`.
 *
 * @throws {LockstepError} `USAGE` (bad duration or channel), `FEED_ROLLBACK` (seq not above the
 * index in `out`), `FEED_INVALID` (no bundles, bundles of several apps, one release twice, a
 * name or a published file that would change), the `BUNDLE_*` code of a bundle that cannot be
 * read, `PERMISSION_DENIED`.
 * @example
 * ```ts ignore
 * await buildFeed({ from: "releases", out: "public/shop", seq: 43, expires: "14d" });
 * ```
 */
export async function buildFeed(options: BuildFeedOptions): Promise<BuildFeedResult> {
  const { channel = "stable", now = new Date() } = options;
  const from = resolve(options.from);
  const out = resolve(options.out);
  if (!CHANNEL.test(channel)) {
    throw new LockstepError(
      "USAGE",
      `Cannot run lockstep: --channel "${channel}" is not a channel name.`,
    );
  }
  const lifetime = parseDuration(options.expires);
  const target = join(out, indexNames(channel).index);
  await refuseLowerSeq(target, options.seq);
  const found = await bundlesIn(from, out === from ? undefined : out);
  const entries = await Promise.all(found.map((path) => entryOf(from, path)));
  const app = oneApp(entries, from);
  const issued = new Date(Math.floor(now.getTime() / 1000) * 1000);
  const feed: FeedIndex = {
    format: 1,
    app,
    channel,
    seq: options.seq,
    issued: iso(issued),
    expires: iso(new Date(issued.getTime() + lifetime)),
    entries: entries.map((e) => e.entry).sort(byRelease),
  };
  const bytes = new TextEncoder().encode(JSON.stringify(feed, null, 2) + "\n");
  parseIndex(bytes, DEFAULT_LIMITS, target);
  let copied = 0;
  if (out !== from) {
    for (const { path, entry } of entries) copied += await publishCopy(path, join(out, entry.file));
  }
  await writeFileAtomic(target, bytes);
  // The signature of the index this one replaces must not stay beside it.
  await Deno.remove(join(out, indexNames(channel).signature)).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
  return { index: target, feed, copied };
}

/**
 * Signs the index at `index` (`feed-<channel>.json`) with the key file at
 * `keyFile`, writing `feed-<channel>.sig` beside it.
 *
 * Permissions: `--allow-read` on the index and the key file; `--allow-write` on the index's folder.
 *
 * @throws {LockstepError} `USAGE` (not a `.json` file), `FEED_INVALID` (not a valid index),
 * `KEY_INVALID`, `PERMISSION_DENIED`.
 * @example
 * ```ts ignore
 * await signFeed("public/shop/feed-stable.json", "/secure/feed.key");
 * ```
 */
export async function signFeed(
  index: string,
  keyFile: string,
): Promise<{ signature: string; key: string; seq: number }> {
  if (!index.endsWith(".json")) {
    throw new LockstepError(
      "USAGE",
      `Cannot run lockstep: --index names a .json index, not "${index}".`,
    );
  }
  const bytes = await Deno.readFile(index);
  const feed = parseIndex(bytes, DEFAULT_LIMITS, index);
  const signature = await sign(bytes, keyFile);
  const target = index.replace(/\.json$/, ".sig");
  await writeFileAtomic(target, signature);
  const { key } = JSON.parse(new TextDecoder().decode(signature)) as { key: string };
  return { signature: target, key, seq: feed.seq };
}

function iso(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

function byRelease(a: FeedEntry, b: FeedEntry): number {
  return a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name) ||
    a.file.localeCompare(b.file);
}

async function refuseLowerSeq(target: string, seq: number): Promise<void> {
  let before: number;
  try {
    before = Number((JSON.parse(await Deno.readTextFile(target)) as { seq?: unknown }).seq);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof SyntaxError) return;
    throw error;
  }
  if (Number.isSafeInteger(before) && seq <= before) {
    throw new LockstepError(
      "FEED_ROLLBACK",
      `Cannot build feed "${target}": --seq ${seq} is not above ${before}, the seq of the index ` +
        `there; hosts that accepted it would refuse this one. Use --seq ${before + 1}.`,
      { data: { seq, accepted: before } },
    );
  }
}

/** Every `*.zip` under `folder` (hidden names and `skip` left out), sorted. */
async function bundlesIn(folder: string, skip: string | undefined): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string) => {
    for await (const entry of Deno.readDir(dir)) {
      const path = join(dir, entry.name);
      if (entry.name.startsWith(".") || path === skip) continue;
      if (entry.isDirectory) await walk(path);
      else if (entry.isFile && entry.name.endsWith(".zip")) found.push(path);
    }
  };
  await walk(folder);
  if (found.length === 0) {
    throw new LockstepError(
      "FEED_INVALID",
      `Cannot build feed from "${folder}": it holds no bundles (*.zip).`,
    );
  }
  return found.sort();
}

/** A bundle's entry: its hash and size, and its manifest's release fields. */
async function entryOf(
  from: string,
  path: string,
): Promise<{ path: string; app: string; entry: FeedEntry }> {
  const { sha256, size } = await hashFile(path);
  await using bundle = await openBundle(path, DEFAULT_LIMITS);
  const m = bundle.manifest;
  const { kind, name } = identityOf(m);
  const entry: FeedEntry = {
    kind,
    name,
    version: m.version,
    file: relative(from, path).split(sep).join("/"),
    sha256,
    size,
    ...(m.upgradesFrom === undefined ? {} : { upgradesFrom: m.upgradesFrom }),
    requires: m.requires,
    ...(m.released === undefined ? {} : { released: m.released }),
    ...(m.security
      ? { security: { level: "critical" as const, below: m.version, advisories: [] } }
      : {}),
    notes: m.notes,
    database: m.database,
  };
  return { path, app: m.app, entry };
}

function oneApp(entries: readonly { path: string; app: string }[], from: string): string {
  const apps = [...new Set(entries.map((e) => e.app))];
  if (apps.length > 1) {
    throw new LockstepError(
      "FEED_INVALID",
      `Cannot build feed from "${from}": its bundles are for several apps (${apps.join(", ")}); ` +
        `a feed serves one.`,
      { data: { apps } },
    );
  }
  return apps[0]!;
}

/** Copies a bundle into the feed folder; an identical file is kept, another one refused. */
async function publishCopy(path: string, target: string): Promise<number> {
  await Deno.mkdir(dirname(target), { recursive: true });
  try {
    const there = await hashFile(target);
    if (there.sha256 === (await hashFile(path)).sha256) return 0;
    throw new LockstepError(
      "FEED_INVALID",
      `Cannot build feed: "${target}" is published with other bytes than "${path}". A published ` +
        `bundle never changes; give the release a new version (and file name).`,
      { data: { file: basename(target) } },
    );
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  await Deno.copyFile(path, target);
  return 1;
}
