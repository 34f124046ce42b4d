// A real redis-server for the cluster tests: started on a free loopback port with a temporary
// directory, waited for until it answers, and stopped. Never a mock.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { childEnv } from "./_child.ts";

/** A running redis-server. */
export interface RedisServer {
  readonly port: number;
  /** `redis://[:password@]127.0.0.1:port`. */
  readonly url: string;
  readonly dir: string;
  /** Stops it (SIGTERM, then SIGKILL) and removes its directory, unless `keepDir`. */
  stop(keepDir?: boolean): Promise<void>;
  /** Kills it at once, as a crash would; its directory stays for a restart. */
  kill(): Promise<void>;
}

/** Options for {@linkcode startRedis}. */
export interface RedisOptions {
  password?: string;
  appendonly?: boolean;
  /** Restart in this directory and on this port (after `kill()`). */
  dir?: string;
  port?: number;
}

/** Whether redis-server is installed (`bash scripts/test_all.sh` installs it when it can). */
export function haveRedis(): boolean {
  const r = spawnSync("redis-server", ["--version"], { stdio: "ignore" });
  return r.status === 0;
}

/** A loopback port nobody listens on now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

function ping(port: number, password: string | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    let data = "";
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once("error", () => done(false));
    socket.on("data", (chunk) => {
      data += chunk.toString();
      if (data.includes("+PONG")) done(true);
      else if (data.includes("-")) done(false);
    });
    socket.connect(port, "127.0.0.1", () => {
      socket.write((password ? `AUTH ${password}\r\n` : "") + "PING\r\n");
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

/** Starts a redis-server; rejects if it does not answer within 20 s. */
export async function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "mp-redis-"));
  const port = options.port ?? await freePort();
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", ""];
  args.push("--appendonly", options.appendonly ? "yes" : "no");
  if (options.appendonly) args.push("--appendfsync", "always");
  if (options.password) args.push("--requirepass", options.password);
  const child = spawn("redis-server", args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (chunk) => (stderr += chunk));
  const deadline = Date.now() + 20_000;
  while (!(await ping(port, options.password))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`redis-server on port ${port} did not start: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const auth = options.password ? `:${options.password}@` : "";
  return {
    port,
    dir,
    url: `redis://${auth}127.0.0.1:${port}`,
    async stop(keepDir = false) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited(child);
      clearTimeout(timer);
      if (!keepDir) rmSync(dir, { recursive: true, force: true });
    },
    async kill() {
      child.kill("SIGKILL");
      await exited(child);
    },
  };
}

/** A worker program of the cluster pool, started as a process of its own. */
export interface WorkerProcess {
  readonly child: ChildProcess;
  /** What it printed on stderr so far (its log). */
  log(): string;
  /** Resolves with its exit code or signal once it has ended. */
  readonly exited: Promise<number | string | null>;
  /** Ends it: SIGTERM (finishes its chunks) or SIGKILL (as a crash). */
  stop(signal?: "SIGTERM" | "SIGKILL"): Promise<void>;
}

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const WORKER = fileURLToPath(new URL("../cluster_worker.ts", import.meta.url));

/** The runtime that runs this test: deno, bun or node. */
export function currentRuntime(): "deno" | "bun" | "node" {
  const g = globalThis as { Deno?: unknown; Bun?: unknown };
  return g.Deno !== undefined ? "deno" : g.Bun !== undefined ? "bun" : "node";
}

/**
 * Starts `cluster_worker.ts` with `runtime` (default: this test's), and waits until it
 * serves (its first log line).
 */
export async function startWorker(
  broker: string,
  options: { runtime?: "deno" | "bun" | "node"; prefix?: string; processes?: number } = {},
): Promise<WorkerProcess> {
  const runtime = options.runtime ?? currentRuntime();
  const bin = join(ROOT, "node_modules", ".bin", runtime);
  const args = runtime === "deno" ? ["run", "-A", WORKER] : [WORKER];
  args.push("--broker", broker, "--processes", String(options.processes ?? 2));
  if (options.prefix) args.push("--prefix", options.prefix);
  const child = spawn(bin, args, {
    cwd: ROOT,
    env: childEnv(),
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  let serving: () => void;
  const ready = new Promise<void>((resolve) => (serving = resolve));
  child.stderr!.on("data", (chunk) => {
    stderr += chunk;
    if (stderr.includes(" serving ")) serving();
  });
  const exited = new Promise<number | string | null>((resolve) =>
    child.once("exit", (code, signal) => resolve(code ?? signal))
  );
  const timeout = new Promise<"timeout">((r) => {
    const t = setTimeout(() => r("timeout"), 30_000);
    (t as { unref?: () => void }).unref?.();
  });
  const first = await Promise.race([ready.then(() => "ready" as const), exited, timeout]);
  if (first !== "ready") {
    child.kill("SIGKILL");
    throw new Error(`The ${runtime} worker did not start (${first}): ${stderr}`);
  }
  return {
    child,
    log: () => stderr,
    exited,
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
