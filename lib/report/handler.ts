/**
 * `reportHandler`: the operator report served from a Deno application,
 * meant to be mounted behind the application's admin path inside
 * `maintenance()` (so it stays reachable, with the admin token, while
 * maintenance is on). The report is cached for a short time and recomputed
 * in the background when stale, so an administrator reloading the page
 * never stalls the application.
 *
 * @module
 */
import type { Config } from "../config.ts";
import { redact } from "../redact.ts";
import { report } from "./data.ts";
import { renderReport, REPORT_CSP } from "./html.ts";
import type { ReportData } from "./types.ts";

/** Options for {@link reportHandler}. */
export interface ReportHandlerOptions {
  /** How long a report is served before it is recomputed, in ms (default 10,000). */
  maxAgeMs?: number;
}

/**
 * A request handler that answers with the report: JSON to `Accept:
 * application/json`, else the HTML page with its Content-Security-Policy.
 * The first request waits for the report; later ones get the cached one
 * while a stale report is recomputed in the background.
 *
 * Permissions: those of {@link report} (read-only: `--allow-read` on the app's folders;
 * PostgreSQL adds `--allow-net=HOST:PORT`, `--allow-env=PGAPPNAME` and the `passwordEnv`).
 *
 * @throws {TypeError} when `maxAgeMs` is negative. A report that cannot be made is answered with
 * 503 and the error's message (credentials masked), not thrown.
 * @example
 * ```ts ignore
 * const admin = reportHandler(config);
 * Deno.serve(maintenance((req) => new URL(req.url).pathname === "/admin/lockstep"
 *   ? admin(req) : app(req), { config, adminPaths: ["/admin/**"], adminToken }));
 * ```
 */
export function reportHandler(
  config: Config,
  options: ReportHandlerOptions = {},
): (request: Request) => Promise<Response> {
  const { maxAgeMs = 10_000 } = options;
  if (maxAgeMs < 0) throw new TypeError("reportHandler() needs a maxAgeMs of 0 or more");
  let cached: { data: ReportData; html: string; at: number } | undefined;
  let running: Promise<void> | undefined;
  const refresh = () => {
    running ??= report(config).then((data) => {
      cached = { data, html: renderReport(data), at: performance.now() };
    }).finally(() => (running = undefined));
    return running;
  };
  return async (request) => {
    try {
      if (cached === undefined) await refresh();
      else if (performance.now() - cached.at > maxAgeMs) refresh().catch(() => undefined);
    } catch (error) {
      return unavailable(error);
    }
    const { data, html } = cached!;
    const headers = { "cache-control": "no-store", "x-content-type-options": "nosniff" };
    if ((request.headers.get("accept") ?? "").includes("application/json")) {
      return Response.json({ ok: true, ...data }, { headers });
    }
    return new Response(html, {
      headers: {
        ...headers,
        "content-type": "text/html; charset=utf-8",
        "content-security-policy": `${REPORT_CSP}; frame-ancestors 'none'`,
        "referrer-policy": "no-referrer",
      },
    });
  };
}

function unavailable(error: unknown): Response {
  const message = error instanceof Error ? error.message : String(error);
  return new Response(`The report cannot be made now: ${redact(message)}\n`, {
    status: 503,
    headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" },
  });
}
