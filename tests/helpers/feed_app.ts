/**
 * Test apps that follow a simulated feed: a `lockstep.json` whose `feed`
 * section points at the simulator's loopback server or its folder, trusting
 * its feed key; and what a refusal must leave as it was (the saved feed,
 * state.json's record, `pending/`).
 *
 * @module
 */
import { join } from "node:path";
import { assertEquals } from "./assert.ts";
import { type Backend, makeApp, type TestApp } from "./app.ts";
import type { FeedSimulator } from "./feed_sim.ts";

/** How the app reaches the feed. */
export type Transport = "http" | "folder";

/** Both transports, for tests that must hold on each. */
export const TRANSPORTS: readonly Transport[] = ["http", "folder"];

/**
 * An app at version 1.0.0 (package `core`, no migrations yet) following
 * `sim` over `transport`, with `feed` settings added.
 */
export async function feedApp(
  sim: FeedSimulator,
  transport: Transport,
  options: { backend?: Backend; feed?: Record<string, unknown>; extra?: Record<string, unknown> } =
    {},
): Promise<TestApp> {
  const url = transport === "http" ? await sim.serve() : sim.dir;
  return await makeApp(options.backend ?? "sqlite", {
    packages: { core: {} },
    files: { "app/main.ts": "console.log('1.0.0');\n" },
    extra: {
      feed: { url, keys: [sim.key.trust], timeoutSeconds: 2, ...options.feed },
      ...options.extra,
    },
  });
}

/** What a refused feed operation must not change: the saved feed, the record and pending/. */
export async function feedSnapshot(app: TestApp): Promise<unknown> {
  const read = async (path: string) =>
    await Deno.readTextFile(join(app.dir, path)).catch(() => null);
  const pending = await Array.fromAsync(Deno.readDir(join(app.dir, "updates/pending")))
    .then((entries) => entries.map((e) => e.name).sort())
    .catch(() => []);
  const state = await read("updates/state.json");
  return {
    index: await read("updates/feed/feed-stable.json"),
    signature: await read("updates/feed/feed-stable.sig"),
    feed: state === null ? null : JSON.parse(state).feed ?? null,
    pending,
  };
}

/** Asserts a refusal left the saved feed, its record and pending/ as `before`. */
export async function assertUnchanged(app: TestApp, before: unknown, what: string): Promise<void> {
  assertEquals(await feedSnapshot(app), before, `${what}: the saved feed or pending/ changed`);
}
