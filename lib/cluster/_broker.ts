// The one place the cluster talks to Redis: where the broker is, a connection as the cluster
// uses it (raw commands, binary replies), the key names of a pool, and the script that
// records a result once. Both sides import it: the pool (lib/cluster/pool.ts) and the worker
// program (lib/cluster/worker.ts).

import { Buffer } from "node:buffer";
import { readFileSync } from "node:fs";
import process from "node:process";
import { createClient, RESP_TYPES } from "@redis/client";
import { describe } from "../reduction.ts";

/** The environment variable that names the broker when no `broker` option does (as Ray's `RAY_ADDRESS`). */
export const BROKER_ENV = "MP_BROKER";

/** The consumer group of every pool's stream: all workers read as one group. */
export const GROUP = "workers";

/** The namespace of pools and workers unless told otherwise. */
export const DEFAULT_PREFIX = "mp";

/**
 * How long a pool's `alive` key lives without being refreshed, in visibility timeouts: then
 * workers drop the pool's work, as its program is gone.
 */
export const ALIVE_TTL_VISIBILITIES = 2;

/** The worker command, as the errors and the README give it. */
export const WORKER_COMMAND =
  "deno run -A jsr:@mp/multiprocessing/cluster/worker --broker redis://HOST:6379";

/** Where the broker is: the option, else the environment variable, checked. */
export function brokerUrl(option: unknown, what: string): string {
  let url = option;
  if (url === undefined || url === null) {
    try {
      url = process.env[BROKER_ENV];
    } catch {
      // Deno without --allow-env: as if it were not set.
      url = undefined;
    }
    if (url === undefined || url === "") {
      throw new Error(
        `Cannot ${what} as no broker is given: pass { broker: "redis://HOST:6379" } or set ${BROKER_ENV}=redis://HOST:6379. Start Redis (apt-get install redis-server, or redis-server --port 6379) and, on each machine that should run tasks, a worker: ${WORKER_COMMAND} (README, "Scale out")`,
      );
    }
  }
  if (typeof url !== "string") {
    throw new TypeError(
      `Cannot ${what} as 'broker' must be a redis:// or rediss:// URL: received ${describe(url)}`,
    );
  }
  if (!/^rediss?:\/\/[^/]/.test(url)) {
    throw new TypeError(
      `Cannot ${what} as 'broker' must be a redis:// or rediss:// URL, as in redis://:password@HOST:6379: received '${url}'`,
    );
  }
  return url;
}

/**
 * TLS settings for a `rediss://` broker, as PEM text (`readFileSync(path, "utf8")`): the
 * certificate authority that signed the broker's certificate, and this side's certificate and
 * key when the broker asks clients for one (`tls-auth-clients yes`).
 */
export interface BrokerTls {
  /** The CA certificate(s) to trust instead of the system's. */
  ca?: string;
  /** This client's certificate chain. */
  cert?: string;
  /** This client's private key. */
  key?: string;
}

/** The environment variables that name PEM files when no `tls` option is given. */
export const TLS_ENV: Readonly<Record<keyof BrokerTls, string>> = {
  ca: "MP_BROKER_CA",
  cert: "MP_BROKER_CERT",
  key: "MP_BROKER_KEY",
};

function env(name: string): string | undefined {
  try {
    return process.env[name] || undefined;
  } catch {
    // Deno without --allow-env: as if it were not set.
    return undefined;
  }
}

/**
 * The TLS settings: the option, else the PEM files the environment variables name, checked
 * against the URL (TLS settings need `rediss://`).
 */
export function brokerTls(option: unknown, url: string, what: string): BrokerTls | undefined {
  let tls: BrokerTls | undefined;
  if (option !== undefined) {
    if (typeof option !== "object" || option === null) {
      throw new TypeError(
        `Cannot ${what} as 'tls' must be an object of PEM text { ca, cert, key }: received ${
          describe(option)
        }`,
      );
    }
    tls = {};
    for (const [field, value] of Object.entries(option)) {
      if (!(field in TLS_ENV)) {
        throw new TypeError(
          `Cannot ${what} as 'tls' has no field '${field}': it takes ca, cert and key (PEM text)`,
        );
      }
      if (value === undefined) continue;
      if (typeof value !== "string" || !value.includes("-----BEGIN")) {
        throw new TypeError(
          `Cannot ${what} as 'tls.${field}' must be PEM text (the file's contents, as readFileSync(path, "utf8") gives them): received ${
            describe(typeof value === "string" ? `${value.slice(0, 40)}…` : value)
          }`,
        );
      }
      tls[field as keyof BrokerTls] = value;
    }
  } else {
    for (const [field, name] of Object.entries(TLS_ENV)) {
      const path = env(name);
      if (path === undefined) continue;
      try {
        (tls ??= {})[field as keyof BrokerTls] = readFileSync(path, "utf8");
      } catch (error) {
        throw new Error(
          `Cannot ${what} as the file ${name} names cannot be read: ${
            error instanceof Error ? error.message : String(error)
          }`,
          { cause: error },
        );
      }
    }
  }
  if (tls !== undefined && Object.keys(tls).length > 0 && !url.startsWith("rediss:")) {
    throw new TypeError(
      `Cannot ${what} as TLS settings (${
        Object.keys(tls).join(", ")
      }) need a rediss:// broker URL: received '${safeUrl(url)}'`,
    );
  }
  return tls;
}

/** The URL without its password, for messages. */
export function safeUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//***@");
}

/** The key prefix of one pool: every key of it shares the hash tag, for scripts on Redis Cluster. */
export function checkPrefix(prefix: unknown, what: string): string {
  if (prefix === undefined) return DEFAULT_PREFIX;
  if (typeof prefix !== "string" || !/^[A-Za-z0-9_.:-]+$/.test(prefix)) {
    throw new TypeError(
      `Cannot ${what} as 'prefix' must be a non-empty string of letters, digits and _.:-: received ${
        describe(prefix)
      }`,
    );
  }
  return prefix;
}

/** The registry of a namespace's pools: a hash of pool id → its settings (JSON). */
export function registryKey(prefix: string): string {
  return `${prefix}:pools`;
}

/** The keys of one pool. */
export interface PoolKeys {
  /** The stream of chunks; the group {@linkcode GROUP} reads it. */
  tasks: string;
  /** Chunk id → its result's bytes, recorded once, until the pool takes them. */
  done: string;
  /** The ids of recorded chunks, in the order recorded, for the pool to pop. */
  results: string;
  /** Exists while the pool's program lives. */
  alive: string;
}

/** The keys of pool `id` in `prefix`'s namespace. */
export function poolKeys(prefix: string, id: string): PoolKeys {
  const base = `${prefix}:{${id}}`;
  return {
    tasks: `${base}:tasks`,
    done: `${base}:done`,
    results: `${base}:results`,
    alive: `${base}:alive`,
  };
}

/** A pool's settings, as the registry holds them for the workers. */
export interface PoolSettings {
  /** Milliseconds a chunk may go without its worker's heartbeat before others claim it. */
  visibilityTimeout: number;
  /** Deliveries after which a chunk fails instead of being handed out again. */
  maxDeliveries: number;
}

/**
 * Records a chunk's result once and takes the chunk off the stream, atomically: only while
 * its entry is still on the stream, so a chunk run twice (its first worker stalled, not
 * dead) is answered once, and nothing is recorded for a pool that is gone (terminated or
 * expired: its stream was deleted). The result waits in the `done` hash until the pool takes
 * it, and its chunk id goes on the `results` list to wake the pool; a wake-up lost with a
 * connection is made good by the pool looking in `done` itself.
 *
 * KEYS: tasks, done, results. ARGV: group, entry id, chunk id, result bytes.
 */
export const RECORD_SCRIPT = `
if #redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2]) == 0 then return -1 end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
if redis.call('HSETNX', KEYS[2], ARGV[3], ARGV[4]) == 1 then
  redis.call('RPUSH', KEYS[3], ARGV[3])
  return 1
end
return 0
`;

/**
 * Takes recorded results: chunk id `ARGV[1]`, and up to `ARGV[2]` more ids popped from the
 * `results` list; returns `[id, bytes, ...]` for those recorded and not taken yet, and deletes
 * them, so that the broker holds only the results not yet taken. One round trip takes every
 * result that arrived while the pool handled the last ones.
 *
 * KEYS: done, results. ARGV: chunk id, how many more to pop.
 */
export const TAKE_SCRIPT = `
local ids = {ARGV[1]}
local more = tonumber(ARGV[2])
if more > 0 then
  local popped = redis.call('LPOP', KEYS[2], more)
  if popped then for _, id in ipairs(popped) do ids[#ids + 1] = id end end
end
local out = {}
for _, id in ipairs(ids) do
  local v = redis.call('HGET', KEYS[1], id)
  if v then
    redis.call('HDEL', KEYS[1], id)
    out[#out + 1] = id
    out[#out + 1] = v
  end
end
return out
`;

/** An argument of a command. */
export type Arg = string | Uint8Array;

/** A connection to the broker, as the cluster uses it. */
export interface Conn {
  /** Sends a command; bulk strings in the reply arrive as `Uint8Array`s. */
  call(args: Arg[]): Promise<unknown>;
  ref(): void;
  unref(): void;
  /** Closes at once; commands in flight fail. */
  destroy(): void;
}

// After the connection was up, it is retried for about this long when it breaks (a broker
// restart), commands waiting meanwhile; then they fail.
export const RECONNECT_FOR_MS = 60_000;

/**
 * Connects to the broker.
 *
 * @throws {Error} If it cannot be reached, or refuses the password: saying where and how to
 *   start it.
 */
export async function connect(url: string, what: string, tls?: BrokerTls): Promise<Conn> {
  let up = false;
  let downSince = 0;
  const client = createClient({
    url,
    // Replies as flat arrays (RESP2), which the readers here walk.
    RESP: 2,
    socket: {
      ...tls,
      connectTimeout: 10_000,
      reconnectStrategy: (retries: number, cause: Error) => {
        // A broker that was never reached is reported at once; one that was, retried.
        if (!up) return cause;
        if (downSince === 0) downSince = Date.now();
        if (Date.now() - downSince > RECONNECT_FOR_MS) return cause;
        return Math.min(50 * 2 ** retries, 1000);
      },
    },
  }).withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
  // Without a listener, a connection error would be thrown as an uncaught 'error' event.
  client.on("error", () => {});
  client.on("ready", () => (downSince = 0));
  try {
    await client.connect();
  } catch (error) {
    client.destroy?.();
    const reason = error instanceof Error ? error.message : String(error);
    const code = (error as { code?: unknown })?.code;
    if (url.startsWith("rediss:") && isTlsFailure(reason, code)) {
      throw new Error(
        `Cannot ${what} as the TLS handshake with the broker at ${
          safeUrl(url)
        } failed (${reason}): give the CA that signed the broker's certificate as the 'tls.ca' option or ${TLS_ENV.ca}=FILE, and a client certificate and key ('tls.cert', 'tls.key') if the broker asks for one`,
        { cause: error },
      );
    }
    throw new Error(
      `Cannot ${what} as the broker at ${
        safeUrl(url)
      } cannot be reached (${reason}): start Redis there (apt-get install redis-server, or redis-server --port 6379), and give its password as redis://:PASSWORD@HOST:6379`,
      { cause: error },
    );
  }
  up = true;
  return {
    call: (args) =>
      client.sendCommand(
        args.map((a) =>
          typeof a === "string" ? a : Buffer.from(a.buffer, a.byteOffset, a.byteLength)
        ),
      ),
    ref: () => client.ref(),
    unref: () => client.unref(),
    destroy: () => {
      try {
        client.destroy();
      } catch {
        // Closed already.
      }
    },
  };
}

function isTlsFailure(reason: string, code: unknown): boolean {
  return (typeof code === "string" && /CERT|SSL|TLS|SELF_SIGNED|ERR_TLS/.test(code)) ||
    /certificate|handshake|ssl|tls|self.signed|unknown ca|alert/i.test(reason);
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A reply's string (bulk strings arrive as bytes). */
export function text(reply: unknown): string {
  if (reply instanceof Uint8Array) return Buffer.from(reply).toString("utf8");
  return String(reply);
}

/** A stream entry's fields, from the flat `[field, value, ...]` reply. */
export function fields(flat: unknown): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  const list = flat as unknown[];
  for (let i = 0; i + 1 < list.length; i += 2) out.set(text(list[i]), list[i + 1] as Uint8Array);
  return out;
}
