/**
 * The cluster pool's worker program: runs {@linkcode serve} until SIGINT or SIGTERM.
 *
 * ```sh
 * deno run -A jsr:@mp/multiprocessing/cluster/worker --broker redis://:PASSWORD@HOST:6379
 * bun node_modules/@mp/multiprocessing/dist/cluster_worker.js --broker redis://HOST:6379
 * node node_modules/@mp/multiprocessing/dist/cluster_worker.js --broker redis://HOST:6379
 * ```
 *
 * Options: `--broker URL` (or the environment variable `MP_BROKER`); for a `rediss://` broker,
 * `--tls-ca FILE` (the CA that signed the broker's certificate) and, when the broker asks
 * clients for a certificate, `--tls-cert FILE` and `--tls-key FILE` (PEM files; or the
 * environment variables `MP_BROKER_CA`, `MP_BROKER_CERT`, `MP_BROKER_KEY`); `--processes N` (the
 * local pool's size; default: the machine's cores), `--prefix NAME` (the pools' namespace;
 * default `mp`), `--quiet`. The first signal stops taking chunks and finishes those running;
 * a second one ends the program at once (its chunks go to other workers).
 *
 * @example Usage
 * ```ts ignore
 * import { main } from "@mp/multiprocessing/cluster/worker";
 *
 * await main(["--broker", "redis://localhost:6379"]);
 * ```
 *
 * @module
 */
import { readFileSync } from "node:fs";
import process from "node:process";
import type { BrokerTls } from "./lib/cluster/_broker.ts";
import { serve } from "./lib/cluster/worker.ts";

const USAGE =
  "Usage: cluster_worker [--broker redis://[:PASSWORD@]HOST:PORT] [--tls-ca FILE] [--tls-cert FILE] [--tls-key FILE] [--processes N] [--prefix NAME] [--quiet]";

/**
 * Runs the worker program with command-line arguments.
 *
 * @param args The arguments, as in `process.argv.slice(2)`.
 * @returns A promise that resolves when the worker has stopped (after SIGINT or SIGTERM).
 * @throws {TypeError} For an unknown argument or a missing value (as a rejection).
 */
export async function main(args: string[]): Promise<void> {
  const options: { broker?: string; tls?: BrokerTls; processes?: number; prefix?: string } = {};
  let quiet = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const [flag, inline] = arg.startsWith("--") && arg.includes("=")
      ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
      : [arg, undefined];
    const value = () => {
      const v = inline ?? args[++i];
      if (v === undefined) {
        throw new TypeError(`Cannot start the worker as ${flag} needs a value: ${USAGE}`);
      }
      return v;
    };
    const pem = (field: keyof BrokerTls) => {
      const path = value();
      try {
        (options.tls ??= {})[field] = readFileSync(path, "utf8");
      } catch (error) {
        throw new TypeError(
          `Cannot start the worker as ${flag} names a file that cannot be read: ${
            error instanceof Error ? error.message : String(error)
          }`,
        );
      }
    };
    if (flag === "--broker") options.broker = value();
    else if (flag === "--tls-ca") pem("ca");
    else if (flag === "--tls-cert") pem("cert");
    else if (flag === "--tls-key") pem("key");
    else if (flag === "--prefix") options.prefix = value();
    else if (flag === "--processes") options.processes = Number(value());
    else if (flag === "--quiet") quiet = true;
    else throw new TypeError(`Cannot start the worker as '${arg}' is not an option: ${USAGE}`);
  }
  const stop = new AbortController();
  let signals = 0;
  const onSignal = () => {
    if (signals++ > 0) process.exit(130);
    stop.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    await serve({
      ...options,
      signal: stop.signal,
      log: quiet ? undefined : (line) => console.error(line),
    });
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

if (import.meta.main) {
  try {
    await main(process.argv.slice(2));
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  }
}
