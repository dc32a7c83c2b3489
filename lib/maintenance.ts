/**
 * Maintenance mode: a flag file, `updates/maintenance.json`, written and
 * removed atomically, that `update`, `install`, `migrate` and `restore` turn
 * on for their duration (and off only when they succeed), and
 * {@link maintenance}, a `Deno.serve` handler wrapper that answers 503 while
 * it is on.
 *
 * @module
 */
import { join } from "node:path";
import type { Config } from "./config.ts";
import { globMatcher } from "./deps/glob.ts";
import { writeFileAtomic } from "./files.ts";

/** What the flag file holds. */
export interface MaintenanceState {
  /** True while maintenance mode is on. */
  readonly on: boolean;
  /** When it was turned on (ISO 8601, UTC), or `null` when off. */
  readonly since: string | null;
  /** The message shown to visitors (and, after a failure, what went wrong). */
  readonly message: string | null;
  /** Who turned it on: `operator`, or the command (`update`, `install`, …). */
  readonly by: string | null;
}

const OFF: MaintenanceState = { on: false, since: null, message: null, by: null };

/** The flag file's path. */
export function maintenanceFile(config: Pick<Config, "updates">): string {
  return join(config.updates, "maintenance.json");
}

/**
 * Permissions: `--allow-read` on the updates folder.
 *
 * @throws {Deno.errors.PermissionDenied} when the flag file cannot be read.
 * @example
 * ```ts ignore
 * const { on, message } = await maintenanceStatus(config);
 * ```
 */
export async function maintenanceStatus(
  config: Pick<Config, "updates">,
): Promise<MaintenanceState> {
  try {
    return parse(await Deno.readTextFile(maintenanceFile(config)));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return OFF;
    throw error;
  }
}

function parse(text: string): MaintenanceState {
  let raw: Record<string, unknown> = {};
  try {
    const parsed = JSON.parse(text);
    if (parsed !== null && typeof parsed === "object") raw = parsed;
  } catch {
    // A flag file that does not parse still means "on": fail safe.
  }
  return {
    on: true,
    since: typeof raw.since === "string" ? raw.since : null,
    message: typeof raw.message === "string" ? raw.message : null,
    by: typeof raw.by === "string" ? raw.by : null,
  };
}

const UPDATING = "The application is being updated. Please try again in a few minutes.";

/**
 * Permissions: `--allow-read` and `--allow-write` on the updates folder.
 *
 * @throws {Deno.errors.PermissionDenied} when the flag file cannot be written.
 * @example
 * ```ts ignore
 * await maintenanceOn(config, { message: "Back at noon." });
 * ```
 */
export async function maintenanceOn(
  config: Pick<Config, "updates">,
  options: { message?: string; by?: string } = {},
): Promise<MaintenanceState> {
  const current = await maintenanceStatus(config);
  const state: MaintenanceState = {
    on: true,
    since: current.since ?? new Date().toISOString(),
    message: options.message ?? current.message ?? UPDATING,
    by: options.by ?? current.by ?? "operator",
  };
  await writeFileAtomic(
    maintenanceFile(config),
    new TextEncoder().encode(JSON.stringify(state, null, 2) + "\n"),
  );
  return state;
}

/**
 * Permissions: `--allow-write` on the updates folder.
 *
 * @throws {Deno.errors.PermissionDenied} when the flag file cannot be removed.
 * @example
 * ```ts ignore
 * await maintenanceOff(config);
 * ```
 */
export async function maintenanceOff(config: Pick<Config, "updates">): Promise<MaintenanceState> {
  await Deno.remove(maintenanceFile(config)).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
  return OFF;
}

/**
 * Maintenance for the span of one command: {@link enter} turns it on unless
 * it was on already (then the operator owns it and it stays as it is);
 * {@link leave} turns it off after success, and after a failure leaves it on
 * with the failure as its message.
 */
export class MaintenanceScope {
  #entered = false;
  #ours = false;

  /** Where the flag file lives. */
  readonly config: Pick<Config, "updates">;
  /** The command, recorded as who turned maintenance on. */
  readonly by: string;

  /** A scope for command `by`; nothing changes until {@link enter}. */
  constructor(config: Pick<Config, "updates">, by: string) {
    this.config = config;
    this.by = by;
  }

  /**
   * Turns maintenance on for this command. Maintenance the operator turned
   * on stays theirs (this command leaves it on); one left on by an
   * interrupted or failed lockstep command is taken over, so that this
   * command's success turns it off.
   */
  async enter(message?: string): Promise<void> {
    if (this.#entered) return;
    this.#entered = true;
    const current = await maintenanceStatus(this.config);
    if (current.on && current.by === "operator") return;
    await maintenanceOn(this.config, { by: this.by, message: message ?? UPDATING });
    this.#ours = true;
  }

  /** Off after success (when this command owns it); on, with `failure`, after a failure. */
  async leave(failure?: string): Promise<void> {
    if (!this.#entered) return;
    if (failure !== undefined) {
      await maintenanceOn(this.config, {
        message: failure,
        ...(this.#ours ? { by: this.by } : {}),
      });
    } else if (this.#ours) await maintenanceOff(this.config);
  }
}

/** Options for {@link maintenance}. */
export interface MaintenanceOptions {
  /** The updates folder holding `maintenance.json` (or pass `config`). */
  updates?: string;
  /** The loaded config; its `updates` folder is used. */
  config?: Pick<Config, "updates">;
  /** Paths (globs such as `/admin/**`) that pass with the admin token. */
  adminPaths?: readonly string[];
  /** The admin token, presented as `Authorization: Bearer <token>` or `X-Lockstep-Token`. */
  adminToken?: string;
  /** `Retry-After` in seconds (default 120). */
  retryAfterSeconds?: number;
  /** How often to look at the flag file, in ms (default 1000): requests in between read nothing. */
  checkEveryMs?: number;
}

/**
 * Wraps a `Deno.serve` handler: while maintenance mode is on, every request
 * gets 503 with `Retry-After` and the message (JSON when the client accepts
 * `application/json`, else a small HTML page), except requests to
 * `adminPaths` that present `adminToken`. The flag file is looked at (one
 * `stat`) at most once per `checkEveryMs`, and read only when it changed.
 *
 * Permissions: `--allow-read` on the updates folder.
 *
 * @example
 * ```ts ignore
 * Deno.serve(maintenance(app, { updates: "/srv/shop/updates", adminPaths: ["/admin/**"], adminToken }));
 * ```
 * @throws {TypeError} when neither `updates` nor `config` is given.
 */
export function maintenance<Info>(
  handler: (request: Request, info: Info) => Response | Promise<Response>,
  options: MaintenanceOptions,
): (request: Request, info: Info) => Response | Promise<Response> {
  const updates = options.updates ?? options.config?.updates;
  if (updates === undefined) throw new TypeError("maintenance() needs `updates` or `config`");
  const file = join(updates, "maintenance.json");
  const every = options.checkEveryMs ?? 1000;
  const retryAfter = String(options.retryAfterSeconds ?? 120);
  const admin = globMatcher((options.adminPaths ?? []).map((p) => p.replace(/^\/+/, "")));
  const token = options.adminToken === undefined || options.adminToken === ""
    ? undefined
    : new TextEncoder().encode(options.adminToken);
  let checkedAt = -Infinity;
  let seen = "";
  let state: MaintenanceState = OFF;

  const current = (): MaintenanceState => {
    const now = performance.now();
    if (now - checkedAt < every) return state;
    checkedAt = now;
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(file);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      seen = "";
      state = OFF;
      return state;
    }
    const stamp = `${info.mtime?.getTime()}:${info.size}:${info.ino}`;
    if (stamp !== seen) {
      seen = stamp;
      try {
        state = parse(Deno.readTextFileSync(file));
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
        state = OFF;
      }
    }
    return state;
  };

  const presentsToken = (request: Request): boolean => {
    if (token === undefined) return false;
    const header = request.headers.get("x-lockstep-token") ??
      request.headers.get("authorization")?.replace(/^Bearer\s+/i, "") ?? "";
    const given = new TextEncoder().encode(header);
    return given.length === token.length && sameBytes(given, token);
  };

  return (request, info) => {
    const flag = current();
    if (!flag.on) return handler(request, info);
    const path = new URL(request.url).pathname.replace(/^\/+/, "");
    if (admin(path) && presentsToken(request)) return handler(request, info);
    return unavailable(request, flag, retryAfter);
  };
}

function unavailable(request: Request, state: MaintenanceState, retryAfter: string): Response {
  const message = state.message ?? "The application is under maintenance.";
  const headers = { "retry-after": retryAfter, "cache-control": "no-store" };
  if ((request.headers.get("accept") ?? "").includes("application/json")) {
    return Response.json(
      { maintenance: true, message, since: state.since, retryAfter: Number(retryAfter) },
      { status: 503, headers },
    );
  }
  const escaped = message.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return new Response(
    `<!doctype html><html><head><meta charset="utf-8"><title>Maintenance</title></head>` +
      `<body><h1>Down for maintenance</h1><p>${escaped}</p></body></html>\n`,
    { status: 503, headers: { ...headers, "content-type": "text/html; charset=utf-8" } },
  );
}

/**
 * Equal bytes of equal length, in a time that does not depend on where they
 * differ (as `timingSafeEqual` does; node:crypto is not loaded at start-up).
 */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  let differ = 0;
  for (let i = 0; i < a.length; i++) differ |= a[i]! ^ b[i]!;
  return differ === 0;
}
