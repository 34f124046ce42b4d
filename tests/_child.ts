// Runs a TypeScript program with the runtime that runs the tests.
import { execFile } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";

/** The outcome of a child program. */
export interface ChildResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** The command that runs `file` with the current runtime. */
export function runtimeCommand(file: string): [string, string[]] {
  const deno = (globalThis as { Deno?: { execPath(): string } }).Deno;
  if (deno !== undefined) return [deno.execPath(), ["run", "-A", file]];
  return [process.execPath, [file]];
}

/** Runs a program under the current runtime, failing it after `timeout` ms. */
export function runChild(url: URL, args: string[] = [], timeout = 30_000): Promise<ChildResult> {
  const [command, base] = runtimeCommand(fileURLToPath(url));
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const started = performance.now();
  return new Promise((resolve) => {
    execFile(command, [...base, ...args], { env, timeout }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : null;
      resolve({ code, stdout, stderr, ms: performance.now() - started });
    });
  });
}
