/**
 * A feed simulator, in the spirit of python-tuf's RepositorySimulator: a
 * publisher with its own feed key that adds bundles, builds and signs
 * indexes (good ones, and hostile ones on request: any field overridden, the
 * raw bytes replaced, signed by another key or not at all) into a folder,
 * which is also served on a loopback HTTP server with fault modes per path
 * (a status, other bytes, endless data, one byte every 200 ms, headers that
 * never finish, a redirect, a gzip bomb, a lying Content-Length). The server
 * records every request, so tests assert what was asked for and how. The
 * server is raw HTTP/1.1 over `Deno.listen`, so that it can lie in ways
 * `Deno.serve` would not. Everything is removed when disposed.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { gzipSync } from "node:zlib";
import { keygen } from "../../mod.ts";
import { sign } from "../../lib/bundles/signature.ts";
import { type BundleSpec, writeBundle } from "./bundles.ts";
import { type TempDir, tempDir } from "./temp.ts";

/** How the server answers one path. */
export type Fault =
  | { kind: "status"; status: number; body?: string; headers?: Record<string, string> }
  | { kind: "body"; body: string | Uint8Array; headers?: Record<string, string> }
  | { kind: "endless" }
  | { kind: "drip"; everyMs: number }
  | { kind: "stall-headers" }
  | { kind: "redirect"; location: string; status?: number }
  | { kind: "gzip-bomb" }
  | { kind: "content-length"; value: number; endless?: boolean };

/** One request the server received. */
export interface SeenRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
}

/** An entry as the simulator publishes it (any field may be overridden). */
export type SimEntry = Record<string, unknown>;

/** A feed publisher with its folder, keys and (once started) its server. */
export class FeedSimulator implements AsyncDisposable {
  /** The published folder (also the mirror). */
  readonly dir: string;
  /** The feed key file and its trust entry. */
  readonly key: { file: string; trust: string; id: string };
  /** The entries of the next index. */
  entries: SimEntry[] = [];
  /** The next index's sequence number. */
  seq = 1;
  /** The channel published. */
  channel = "stable";
  /** The app the feed is for. */
  app = "testapp";
  /** Issue time and lifetime of the next index. */
  issued = new Date();
  lifetimeMs = 14 * 86_400_000;
  /** Faults by request path (`/feed-stable.json`). */
  readonly faults = new Map<string, Fault>();
  /** Requests the server received, in order. */
  readonly requests: SeenRequest[] = [];
  #server: LoopbackServer | undefined;
  readonly #owned: TempDir[];

  private constructor(dir: TempDir, keys: TempDir, key: FeedSimulator["key"]) {
    this.dir = dir.path;
    this.key = key;
    this.#owned = [dir, keys];
  }

  /** A publisher with a fresh feed key (id `feed1` unless given) and an empty folder. */
  static async create(keyId = "feed1"): Promise<FeedSimulator> {
    const dir = await tempDir("lockstep-feed-");
    const keys = await tempDir("lockstep-feed-keys-");
    const made = await keygen(join(keys.path, `${keyId}.key`), { keyId });
    return new FeedSimulator(dir, keys, { file: made.path, trust: made.trustEntry, id: keyId });
  }

  /** Another key this host does not trust (for untrusted and removed keys). */
  async otherKey(keyId: string): Promise<{ file: string; trust: string }> {
    const made = await keygen(join(this.#owned[1]!.path, `${keyId}.key`), { keyId });
    return { file: made.path, trust: made.trustEntry };
  }

  /** Writes a bundle at `file` and adds its entry (overrides applied last); returns the entry. */
  async addBundle(
    spec: BundleSpec & { file?: string; kind?: "app" | "pack"; name?: string },
    overrides: SimEntry = {},
  ): Promise<SimEntry> {
    const file = spec.file ?? `${spec.app ?? this.app}-${spec.version}.zip`;
    const path = join(this.dir, file);
    await Deno.mkdir(dirname(path), { recursive: true });
    await writeBundle(path, { app: this.app, ...spec });
    const bytes = await Deno.readFile(path);
    const entry: SimEntry = {
      kind: spec.kind ?? "app",
      name: spec.name ?? this.app,
      version: spec.version,
      file,
      sha256: createHash("sha256").update(bytes).digest("hex"),
      size: bytes.length,
      ...(spec.upgradesFrom ? { upgradesFrom: spec.upgradesFrom } : {}),
      notes: spec.notes ?? `Release ${spec.version}`,
      ...overrides,
    };
    this.entries.push(entry);
    return entry;
  }

  /** The next index as an object, with `overrides` applied. */
  index(overrides: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      format: 1,
      app: this.app,
      channel: this.channel,
      seq: this.seq,
      issued: this.issued.toISOString(),
      expires: new Date(this.issued.getTime() + this.lifetimeMs).toISOString(),
      entries: this.entries,
      ...overrides,
    };
  }

  /**
   * Writes `feed-<channel>.json` (the index, or `text` as it is) and its
   * signature: by the feed key, by `signWith`, raw `signature` text, or none.
   * Returns the index bytes.
   */
  async publish(
    options: {
      overrides?: Record<string, unknown>;
      text?: string;
      signWith?: string;
      signature?: string | null;
      name?: string;
    } = {},
  ): Promise<Uint8Array> {
    const stem = options.name ?? `feed-${this.channel}`;
    const bytes = new TextEncoder().encode(
      options.text ?? JSON.stringify(this.index(options.overrides), null, 2) + "\n",
    );
    await Deno.writeFile(join(this.dir, `${stem}.json`), bytes);
    const sigPath = join(this.dir, `${stem}.sig`);
    if (options.signature === null) {
      await Deno.remove(sigPath).catch(() => undefined);
    } else if (options.signature !== undefined) {
      await Deno.writeTextFile(sigPath, options.signature);
    } else {
      await Deno.writeFile(sigPath, await sign(bytes, options.signWith ?? this.key.file));
    }
    return bytes;
  }

  /** Starts (once) the loopback server over the folder; returns its base URL (ending in `/`). */
  async serve(): Promise<string> {
    this.#server ??= new LoopbackServer(this);
    return await this.#server.url();
  }

  /** The paths requested, in order. */
  paths(): string[] {
    return this.requests.map((r) => r.path);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#server?.close();
    for (const dir of this.#owned) await dir[Symbol.asyncDispose]();
  }
}

const CRLF = "\r\n";
const encoder = new TextEncoder();
/** No endless answer writes more than this, whatever the client does. */
const ENDLESS_CAP = 1024 ** 3;

/** Raw HTTP/1.1 on 127.0.0.1, one request per connection. */
class LoopbackServer {
  readonly #listener: Deno.TcpListener;
  readonly #connections = new Set<Deno.TcpConn>();
  readonly #handlers = new Set<Promise<void>>();
  readonly #sim: FeedSimulator;
  #closed = false;
  readonly #accepting: Promise<void>;

  constructor(sim: FeedSimulator) {
    this.#sim = sim;
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#accepting = this.#accept();
  }

  url(): Promise<string> {
    return Promise.resolve(`http://127.0.0.1:${this.#listener.addr.port}/`);
  }

  async #accept(): Promise<void> {
    try {
      for await (const conn of this.#listener) {
        this.#connections.add(conn);
        const handler = this.#handle(conn).catch(() => undefined).finally(() => {
          this.#connections.delete(conn);
          this.#handlers.delete(handler);
          try {
            conn.close();
          } catch { /* closed by close() already */ }
        });
        this.#handlers.add(handler);
      }
    } catch (error) {
      if (!this.#closed) throw error;
    }
  }

  async #handle(conn: Deno.TcpConn): Promise<void> {
    const head = await readHead(conn);
    if (head === undefined) return;
    const [requestLine, ...lines] = head.split(CRLF);
    const [method = "", path = ""] = requestLine!.split(" ");
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const at = line.indexOf(":");
      if (at > 0) headers[line.slice(0, at).trim().toLowerCase()] = line.slice(at + 1).trim();
    }
    this.#sim.requests.push({ method, path, headers });
    await this.#respond(conn, path, this.#sim.faults.get(path));
  }

  async #respond(conn: Deno.TcpConn, path: string, fault: Fault | undefined): Promise<void> {
    const send = (status: number, headers: Record<string, string | number>, body?: Uint8Array) =>
      writeAll(
        conn,
        encoder.encode(
          `HTTP/1.1 ${status} ${status === 200 ? "OK" : "X"}${CRLF}` +
            Object.entries({ connection: "close", ...headers }).map(([k, v]) => `${k}: ${v}${CRLF}`)
              .join("") +
            CRLF,
        ),
      ).then(() => body && writeAll(conn, body));
    switch (fault?.kind) {
      case undefined: {
        const file = await Deno.readFile(join(this.#sim.dir, decodeURIComponent(path.slice(1))))
          .catch(() => undefined);
        if (file === undefined) {
          return void await send(404, { "content-length": 9 }, encoder.encode("not found"));
        }
        return void await send(200, { "content-length": file.length }, file);
      }
      case "status": {
        const body = encoder.encode(fault.body ?? "");
        return void await send(
          fault.status,
          { "content-length": body.length, ...fault.headers },
          body,
        );
      }
      case "body": {
        const body = typeof fault.body === "string" ? encoder.encode(fault.body) : fault.body;
        return void await send(200, { "content-length": body.length, ...fault.headers }, body);
      }
      case "redirect":
        return void await send(fault.status ?? 302, {
          location: fault.location,
          "content-length": 0,
        });
      case "gzip-bomb": {
        const body = gzipSync(new Uint8Array(64 * 1024 * 1024));
        return void await send(
          200,
          { "content-length": body.length, "content-encoding": "gzip" },
          body,
        );
      }
      case "stall-headers":
        await writeAll(conn, encoder.encode(`HTTP/1.1 200 OK${CRLF}Content-Le`));
        return await this.#hold();
      case "drip":
        await send(200, {});
        for (let i = 0; i < 1_000_000 && !this.#closed; i++) {
          await writeAll(conn, new Uint8Array([0x7b]));
          await new Promise((resolve) => setTimeout(resolve, fault.everyMs));
        }
        return;
      case "endless":
        await send(200, {});
        return await this.#endless(conn);
      case "content-length":
        await send(200, { "content-length": fault.value });
        return await this.#endless(conn);
    }
  }

  async #endless(conn: Deno.TcpConn): Promise<void> {
    const chunk = new Uint8Array(64 * 1024).fill(0x20);
    for (let sent = 0; sent < ENDLESS_CAP && !this.#closed; sent += chunk.length) {
      await writeAll(conn, chunk);
    }
  }

  async #hold(): Promise<void> {
    while (!this.#closed) await new Promise((resolve) => setTimeout(resolve, 50));
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#listener.close();
    for (const conn of this.#connections) {
      try {
        conn.close();
      } catch { /* already closed */ }
    }
    await Promise.allSettled([...this.#handlers, this.#accepting]);
  }
}

async function readHead(conn: Deno.TcpConn): Promise<string | undefined> {
  const buffer = new Uint8Array(64 * 1024);
  let length = 0;
  while (length < buffer.length) {
    const n = await conn.read(buffer.subarray(length));
    if (n === null) return undefined;
    length += n;
    const text = new TextDecoder().decode(buffer.subarray(0, length));
    const end = text.indexOf(CRLF + CRLF);
    if (end !== -1) return text.slice(0, end);
  }
  return undefined;
}

async function writeAll(conn: Deno.TcpConn, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
}
