/**
 * Operating-system conditions for the tests of operator errors, made the way
 * root cannot ignore them (the tests run as root here, and root writes
 * through file modes): another user (`runuser -u nobody`), a read-only bind
 * mount, an immutable attribute (`chattr +i`) and a small tmpfs filled up.
 * Each is undone when disposed, even when an assertion fails. They need
 * root; the tests that use them are skipped otherwise.
 *
 * @module
 */
import { treeHash } from "./bundles.ts";
import { CLI, type CliResult } from "./cli.ts";
import { type TempDir, tempDir } from "./temp.ts";

/** True when the tests can make these conditions. */
export const IS_ROOT = Deno.build.os === "linux" && Deno.uid() === 0;

/** Runs a program and throws with its output when it fails. */
export async function sh(program: string, ...args: string[]): Promise<void> {
  const out = await new Deno.Command(program, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${program} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

let nobodyDir: Promise<TempDir> | undefined;

/**
 * A `DENO_DIR` user `nobody` can read, holding a copy of this one's npm
 * packages (lockstep's dependencies), so that `--cached-only` runs offline.
 */
function denoDirForNobody(): Promise<TempDir> {
  nobodyDir ??= (async () => {
    const info = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"] }).output();
    const { denoDir } = JSON.parse(new TextDecoder().decode(info.stdout)) as { denoDir: string };
    const dir = await tempDir("lockstep-nobody-deno-");
    await sh("cp", "-r", `${denoDir}/npm`, `${dir.path}/npm`);
    await sh("chown", "-R", "nobody", dir.path);
    await Deno.chmod(dir.path, 0o755);
    globalThis.addEventListener("unload", () => Deno.removeSync(dir.path, { recursive: true }));
    return dir;
  })();
  return nobodyDir;
}

/** Runs `cli.ts` as user `nobody` with `flags` and `args`. */
export function runCliAsNobody(
  flags: readonly string[],
  args: readonly string[],
): Promise<CliResult> {
  return runAsNobody([...flags, CLI, ...args]);
}

/** Runs `deno run --cached-only --no-prompt --quiet <args>` as user `nobody`. */
export async function runAsNobody(args: readonly string[]): Promise<CliResult> {
  const denoDir = await denoDirForNobody();
  const out = await new Deno.Command("runuser", {
    args: [
      "-u",
      "nobody",
      "--",
      "env",
      `DENO_DIR=${denoDir.path}`,
      "NO_COLOR=1",
      Deno.execPath(),
      "run",
      "--cached-only",
      "--no-prompt",
      "--quiet",
      ...args,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

/** Makes `path` read-only by bind-mounting it read-only over itself. */
export async function readOnlyMount(path: string): Promise<AsyncDisposable> {
  await sh("mount", "--bind", path, path);
  await sh("mount", "-o", "remount,bind,ro", path);
  return { [Symbol.asyncDispose]: () => sh("umount", path) };
}

/** Sets the immutable attribute on `path` (root cannot create, rename or remove in it). */
export async function immutable(path: string): Promise<AsyncDisposable> {
  await sh("chattr", "+i", path);
  return { [Symbol.asyncDispose]: () => sh("chattr", "-i", path) };
}

/** A tmpfs of `kilobytes` mounted at a new folder, unmounted and removed when disposed. */
export async function smallDisk(kilobytes: number): Promise<TempDir> {
  const dir = await tempDir("lockstep-full-");
  await sh("mount", "-t", "tmpfs", "-o", `size=${kilobytes}k`, "tmpfs", dir.path);
  return {
    path: dir.path,
    async [Symbol.asyncDispose]() {
      await sh("umount", dir.path);
      await dir[Symbol.asyncDispose]();
    },
  };
}

/** Fills the file system holding `folder` to the last byte with a file named `filler`. */
export async function fill(folder: string): Promise<void> {
  const file = await Deno.open(`${folder}/filler`, { write: true, createNew: true });
  const block = new Uint8Array(4096);
  try {
    for (;;) await file.write(block);
  } catch (error) {
    if (!/No space left|os error 28/.test(String(error))) throw error;
  } finally {
    file.close();
  }
}

/**
 * Every file of the app (path, mode, content) and folder, except lockstep's
 * own empty work folders in `updates/` and the operation lock's file, which
 * a command may make before it meets the condition that stops it.
 */
export async function appTree(dir: string): Promise<Record<string, string>> {
  const files = Object.entries(await treeHash(dir)).filter(([path]) =>
    !(path.startsWith("updates/") && path.endsWith("/")) && path !== "updates/.lockstep/lock"
  );
  return Object.fromEntries(files);
}
