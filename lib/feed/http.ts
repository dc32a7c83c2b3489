/**
 * A feed over HTTP(S), read the way TUF's client rules ask: plain GETs with
 * no query, cookies or host identification (`User-Agent: lockstep`, no
 * version), `Accept-Encoding: identity` (Deno's fetch would otherwise inflate
 * gzip out of sight of the byte cap), redirects followed by hand and only to
 * the feed's own origin (scheme, host and port), at most three; an overall
 * deadline and a minimum rate, both on one interval timer that stays
 * referenced until the body has been read (an `AbortSignal.timeout` that is
 * garbage-collected stops firing under Deno). A proxy Deno takes from the
 * environment may carry the bytes; it is never trusted with anything.
 *
 * @module
 */
import { LockstepError } from "../errors.ts";
import {
  type FeedSource,
  readCapped,
  type ReadOptions,
  type ReadResult,
  type SourceOptions,
  unreachable,
} from "./transport.ts";

/** Redirects followed at most. */
export const MAX_REDIRECTS = 3;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const HEADERS = { "accept-encoding": "identity", "user-agent": "lockstep", accept: "*/*" };

/** The feed at `base` (an `http(s)://…/` URL). */
export function httpSource(base: string, options: SourceOptions): FeedSource {
  const where = (path: string) => new URL(path, base).href;
  return {
    location: base,
    where,
    read: (path, read) => get(new URL(path, base), new URL(base), read, options),
  };
}

/**
 * Why a redirect from `from` to `location` is refused, or `undefined` when it
 * may be followed: another origin (scheme, host or port: https to http is
 * one), credentials in it, or more than {@link MAX_REDIRECTS}.
 */
export function redirectRefusal(
  base: URL,
  location: string | null,
  from: URL,
  hops: number,
): string | undefined {
  if (location === null) return "it redirects without a Location";
  let target: URL;
  try {
    target = new URL(location, from);
  } catch {
    return `it redirects to an invalid address ${JSON.stringify(location)}`;
  }
  if (target.origin !== base.origin) {
    return `it redirects to ${target.origin}, not the feed's own ${base.origin}`;
  }
  if (target.username !== "" || target.password !== "") {
    return "it redirects to an address with credentials";
  }
  if (hops >= MAX_REDIRECTS) return `it redirects more than ${MAX_REDIRECTS} times`;
  return undefined;
}

/** The clock of one request: an overall deadline and a minimum rate over a sliding window. */
function requestClock(options: SourceOptions, expectedBytes: number) {
  const controller = new AbortController();
  const rate = options.minBytesPerSecond;
  const deadlineMs = (options.timeoutSeconds + expectedBytes / rate) * 1000;
  const windowMs = Math.min(10, options.timeoutSeconds) * 1000;
  const started = performance.now();
  let received = 0;
  let windowStart = started;
  let windowBytes = 0;
  let why: string | undefined;
  const stop = (reason: string) => {
    why = reason;
    controller.abort(new DOMException(reason, "TimeoutError"));
  };
  // Referenced (never unref'd) and held by this closure until `done()`.
  const timer = setInterval(() => {
    const now = performance.now();
    if (now - started >= deadlineMs) {
      stop(`it took longer than ${Math.round(deadlineMs / 1000)} s`);
    } else if (now - windowStart >= windowMs) {
      const got = received - windowBytes;
      if (got < rate * windowMs / 1000) {
        stop(`it sent ${got} bytes in ${windowMs / 1000} s, below the minimum of ${rate} bytes/s`);
      }
      windowStart = now;
      windowBytes = received;
    }
  }, Math.min(250, windowMs / 4));
  return {
    signal: controller.signal,
    received: (total: number) => void (received = total),
    why: () => why,
    done: () => clearInterval(timer),
  };
}

async function get(
  url: URL,
  base: URL,
  read: ReadOptions,
  options: SourceOptions,
): Promise<ReadResult> {
  const clock = requestClock(options, read.expectedBytes ?? 0);
  const doFetch = options.fetch ?? fetch;
  try {
    for (let hops = 0;; hops++) {
      const response = await doFetch(url, {
        method: "GET",
        headers: HEADERS,
        redirect: "manual",
        credentials: "omit",
        signal: clock.signal,
      });
      if (REDIRECTS.has(response.status)) {
        await response.body?.cancel().catch(() => undefined);
        const location = response.headers.get("location");
        const refusal = redirectRefusal(base, location, url, hops);
        if (refusal !== undefined) throw redirectRefused(url.href, refusal, location);
        url = new URL(location!, url);
        continue;
      }
      return await body(response, url.href, read, clock.received);
    }
  } catch (error) {
    const why = clock.why();
    if (why !== undefined) throw timedOut(url.href, why, error);
    if (error instanceof LockstepError || error instanceof Deno.errors.NotCapable) throw error;
    if (error instanceof TypeError || error instanceof DOMException) {
      throw unreachable(url.href, (error as Error).message, {}, error);
    }
    throw error;
  } finally {
    clock.done();
  }
}

async function body(
  response: Response,
  where: string,
  read: ReadOptions,
  received: (total: number) => void,
): Promise<ReadResult> {
  const status = response.status;
  if (status === 404 || status === 410) {
    await response.body?.cancel().catch(() => undefined);
    throw unreachable(where, `the server answers ${status} (not found)`, {
      notFound: true,
      status,
    });
  }
  if (status !== 200) {
    await response.body?.cancel().catch(() => undefined);
    throw unreachable(where, `the server answers ${status} ${response.statusText}`.trim(), {
      status,
    });
  }
  const encoding = response.headers.get("content-encoding");
  if (encoding !== null && encoding.toLowerCase() !== "identity") {
    await response.body?.cancel().catch(() => undefined);
    throw unreachable(
      where,
      `the server sent it compressed (Content-Encoding: ${encoding}) though lockstep asks for ` +
        `identity; serve the files as they are`,
      { encoding },
    );
  }
  if (response.body === null) {
    return { size: 0, over: false, ...(read.onChunk ? {} : { data: new Uint8Array() }) };
  }
  // Longer than allowed by its own account: refused before a byte is read.
  if (Number(response.headers.get("content-length")) > read.maxBytes) {
    await response.body.cancel().catch(() => undefined);
    return { size: 0, over: true };
  }
  return await readCapped(response.body, read, received);
}

function redirectRefused(where: string, reason: string, location: string | null): LockstepError {
  return new LockstepError(
    "FEED_REDIRECT_REFUSED",
    `Cannot fetch "${where}": ${reason}. A feed is read from its own origin only; point ` +
      `feed.url at where the files are. Nothing was changed.`,
    { data: { url: where, location, reason } },
  );
}

function timedOut(where: string, reason: string, cause: unknown): LockstepError {
  return new LockstepError(
    "FEED_TIMEOUT",
    `Cannot fetch "${where}": ${reason}, and was stopped. Try again later, or raise ` +
      `feed.timeoutSeconds (or lower limits.feedMinBytesPerSecond) for a slow link. Nothing was ` +
      `changed.`,
    { cause, data: { url: where, reason } },
  );
}
