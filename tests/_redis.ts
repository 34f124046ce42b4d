// A real redis-server for the cluster tests: started on a free loopback port with a temporary
// directory, waited for until it answers, and stopped. Never a mock.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
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
  /** With `tls`: the PEM files and their text (the CA, and a client certificate it signed). */
  readonly tls?: TlsFiles;
  /** Stops it (SIGTERM, then SIGKILL) and removes its directory, unless `keepDir`. */
  stop(keepDir?: boolean): Promise<void>;
  /** Kills it at once, as a crash would; its directory stays for a restart. */
  kill(): Promise<void>;
}

/** Options for {@linkcode startRedis}. */
export interface RedisOptions {
  password?: string;
  /** An ACL user that may do everything; the default user is then off. */
  user?: { name: string; password: string };
  /**
   * Serve TLS only (`rediss://`), with certificates made by openssl in its directory, and ask
   * clients for a certificate signed by the same CA.
   */
  tls?: boolean;
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

/** PEM files made for a TLS redis-server, and their text. */
export interface TlsFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
  /** The CA, a client certificate and its key, as PEM text. */
  ca: string;
  cert: string;
  key: string;
  /** Another CA, which signed nothing of this server's, as PEM text and a file. */
  otherCa: string;
  otherCaFile: string;
}

/** Whether openssl is installed (the TLS tests make their certificates with it). */
export function haveOpenssl(): boolean {
  return spawnSync("openssl", ["version"], { stdio: "ignore" }).status === 0;
}

function openssl(dir: string, args: string[]): void {
  const r = spawnSync("openssl", args, { cwd: dir, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${r.stderr}`);
}

/**
 * Makes a CA, a server certificate for 127.0.0.1 and a client certificate signed by it, and
 * another CA, in `dir`.
 */
export function makeCertificates(dir: string): TlsFiles {
  const days = ["-days", "2"];
  for (const ca of ["ca", "other-ca"]) {
    openssl(dir, [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      `${ca}.key`,
      "-out",
      `${ca}.crt`,
      ...days,
      "-subj",
      `/CN=mp test ${ca}`,
    ]);
  }
  const ext = join(dir, "san.cnf");
  spawnSync("sh", ["-c", `printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > '${ext}'`]);
  for (const name of ["server", "client"]) {
    openssl(dir, [
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
      "-subj",
      `/CN=${name === "server" ? "127.0.0.1" : "mp test client"}`,
    ]);
    openssl(dir, [
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${name}.crt`,
      ...days,
      "-extfile",
      ext,
    ]);
  }
  const read = (file: string) => readFileSync(join(dir, file), "utf8");
  return {
    caFile: join(dir, "ca.crt"),
    certFile: join(dir, "client.crt"),
    keyFile: join(dir, "client.key"),
    ca: read("ca.crt"),
    cert: read("client.crt"),
    key: read("client.key"),
    otherCa: read("other-ca.crt"),
    otherCaFile: join(dir, "other-ca.crt"),
  };
}

function ping(port: number, auth: string | undefined, tls?: TlsFiles): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tls === undefined ? new Socket() : tlsConnect({
      port,
      host: "127.0.0.1",
      ca: tls.ca,
      cert: tls.cert,
      key: tls.key,
    });
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
    const hello = () => socket.write((auth ? `AUTH ${auth}\r\n` : "") + "PING\r\n");
    if (tls === undefined) socket.connect(port, "127.0.0.1", hello);
    else socket.once("secureConnect", hello);
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
  const args = ["--bind", "127.0.0.1", "--dir", dir, "--save", ""];
  let tls: TlsFiles | undefined;
  if (options.tls) {
    tls = makeCertificates(dir);
    args.push("--port", "0", "--tls-port", String(port));
    args.push(
      "--tls-cert-file",
      join(dir, "server.crt"),
      "--tls-key-file",
      join(dir, "server.key"),
    );
    args.push("--tls-ca-cert-file", tls.caFile, "--tls-auth-clients", "yes");
  } else {
    args.push("--port", String(port));
  }
  if (options.user) {
    const { name, password } = options.user;
    args.push(
      "--user",
      name,
      "on",
      `>${password}`,
      "~*",
      "&*",
      "+@all",
      "--user",
      "default",
      "off",
    );
  }
  args.push("--appendonly", options.appendonly ? "yes" : "no");
  if (options.appendonly) args.push("--appendfsync", "always");
  if (options.password) args.push("--requirepass", options.password);
  const child = spawn("redis-server", args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (chunk) => (stderr += chunk));
  const deadline = Date.now() + 20_000;
  const auth = options.user ? `${options.user.name} ${options.user.password}` : options.password;
  while (!(await ping(port, auth, tls))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`redis-server on port ${port} did not start: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const credentials = options.user
    ? `${options.user.name}:${options.user.password}@`
    : options.password
    ? `:${options.password}@`
    : "";
  return {
    port,
    dir,
    tls,
    url: `${tls ? "rediss" : "redis"}://${credentials}127.0.0.1:${port}`,
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
  /**
   * Waits until its log matches `pattern` (a line is read from its pipe a little after the
   * broker sees what the worker did); rejects with the log after `ms`.
   */
  logged(pattern: RegExp, ms?: number): Promise<void>;
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
  options: {
    runtime?: "deno" | "bun" | "node";
    prefix?: string;
    processes?: number;
    /** More arguments for the worker command (`--tls-ca FILE`). */
    args?: string[];
    /** More environment variables for it. */
    env?: Record<string, string>;
  } = {},
): Promise<WorkerProcess> {
  const runtime = options.runtime ?? currentRuntime();
  const bin = join(ROOT, "node_modules", ".bin", runtime);
  const args = runtime === "deno" ? ["run", "-A", WORKER] : [WORKER];
  args.push("--broker", broker, "--processes", String(options.processes ?? 2));
  if (options.prefix) args.push("--prefix", options.prefix);
  args.push(...options.args ?? []);
  const child = spawn(bin, args, {
    cwd: ROOT,
    env: { ...childEnv(), ...options.env },
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
    async logged(pattern, ms = 20_000) {
      const deadline = Date.now() + ms;
      while (!pattern.test(stderr)) {
        if (Date.now() > deadline) {
          throw new Error(`The worker's log did not match ${pattern} in ${ms} ms: ${stderr}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    exited,
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
