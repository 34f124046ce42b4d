// Runs a TypeScript program as a process of its own, with the runtime that runs the tests.
import { execFile } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";

/** The outcome of a child program. */
export interface ChildResult {
  /** The exit code, or `null` when a signal ended it. */
  code: number | null;
  signal: string | null;
  /** It ran past its time limit and was killed. */
  timedOut: boolean;
  stdout: string;
  stderr: string;
}

/** The command that runs `file` with the current runtime. */
export function runtimeCommand(file: string): [string, string[]] {
  const deno = (globalThis as { Deno?: { execPath(): string } }).Deno;
  if (deno !== undefined) return [deno.execPath(), ["run", "-A", file]];
  // Bun and Node: the running binary, which runs .ts files as they are.
  return [process.execPath, [file]];
}

/** The environment for a child program: this one's, without what would change how it runs. */
export function childEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined) env[key] = value;
  }
  // Under node --test, a child that inherits it reports as a test run instead of running.
  delete env.NODE_TEST_CONTEXT;
  delete env.FORCE_COLOR;
  env.NO_COLOR = "1";
  return env;
}

/**
 * Runs a command in `cwd` to its end, or kills it after `timeout` ms; `ms` is how long it took.
 */
export function runCommand(
  command: string,
  args: string[],
  cwd: string,
  timeout = 30_000,
): Promise<ChildResult & { ms: number }> {
  const start = performance.now();
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { cwd, env: childEnv(), timeout, killSignal: "SIGKILL", maxBuffer: 64 << 20 },
      (error, stdout, stderr) => {
        const failure = error as
          | (Error & { code?: unknown; signal?: string; killed?: boolean })
          | null;
        resolve({
          code: failure === null ? 0 : typeof failure.code === "number" ? failure.code : null,
          signal: failure?.signal ?? null,
          timedOut: failure?.killed === true,
          stdout: String(stdout).replace(/\r\n/g, "\n"),
          stderr: String(stderr),
          ms: performance.now() - start,
        });
      },
    );
  });
}

/** Runs a program under the current runtime from the project's root, killing it after `timeout` ms. */
export function runChild(url: URL, args: string[] = [], timeout = 30_000): Promise<ChildResult> {
  const [command, base] = runtimeCommand(fileURLToPath(url));
  return runCommand(
    command,
    [...base, ...args],
    fileURLToPath(new URL("..", import.meta.url)),
    timeout,
  );
}

/**
 * Runs a fixture with garbage collection exposed (`--expose-gc` on Node, V8's flag on Deno,
 * `Bun.gc` on Bun), under the runtime that runs the tests, from the repository's root.
 */
export function runWithGc(url: URL, args: string[], timeout = 80_000): Promise<ChildResult> {
  const file = fileURLToPath(url);
  const root = fileURLToPath(new URL("..", import.meta.url));
  const deno = (globalThis as { Deno?: { execPath(): string } }).Deno;
  if (deno !== undefined) {
    return runCommand(
      deno.execPath(),
      ["run", "-A", "--v8-flags=--expose-gc", file, ...args],
      root,
      timeout,
    );
  }
  const bun = "Bun" in globalThis;
  return runCommand(
    process.execPath,
    [...(bun ? [] : ["--expose-gc"]), file, ...args],
    root,
    timeout,
  );
}
