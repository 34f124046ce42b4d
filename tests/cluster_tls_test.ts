// The cluster Pool through a TLS broker (rediss://), against a real redis-server that serves
// TLS only and asks clients for a certificate, with certificates made by openssl (issue 13).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { Pool } from "../cluster.ts";
import {
  haveOpenssl,
  haveRedis,
  type RedisServer,
  startRedis,
  startWorker,
  type WorkerProcess,
} from "./_redis.ts";

const T = { timeout: 60_000 };
const USER = { name: "alice", password: "pa55word" };

function withEnv<R>(vars: Record<string, string | undefined>, fn: () => R): R {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const set = (values: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  set(vars);
  try {
    return fn();
  } finally {
    set(saved);
  }
}

const skip = !haveRedis()
  ? "redis-server is not installed"
  : !haveOpenssl()
  ? "openssl is not installed"
  : false;

describe("cluster Pool over TLS (rediss://)", { skip }, () => {
  let redis: RedisServer;
  let worker: WorkerProcess;

  before(async () => {
    redis = await startRedis({ tls: true, user: USER });
    const tls = redis.tls!;
    worker = await startWorker(redis.url, {
      args: ["--tls-ca", tls.caFile, "--tls-cert", tls.certFile, "--tls-key", tls.keyFile],
    });
  }, T);

  after(async () => {
    await worker?.stop();
    await redis?.stop();
  }, T);

  test(
    "Pool.map() runs through a TLS broker with an ACL user and a client certificate",
    T,
    async () => {
      const { ca, cert, key } = redis.tls!;
      assert.match(redis.url, /^rediss:\/\/alice:/);
      await using pool = new Pool({ broker: redis.url, tls: { ca, cert, key }, processes: 2 });
      const items = Array.from({ length: 2000 }, (_, i) => i);
      assert.deepEqual(await pool.map((x: number) => x * 3, items), items.map((x) => x * 3));
    },
  );

  test("MP_BROKER_CA, MP_BROKER_CERT and MP_BROKER_KEY name the PEM files", T, async () => {
    const { caFile, certFile, keyFile } = redis.tls!;
    await using pool = withEnv(
      { MP_BROKER_CA: caFile, MP_BROKER_CERT: certFile, MP_BROKER_KEY: keyFile },
      () => new Pool({ broker: redis.url }),
    );
    assert.equal(await pool.apply((x: number) => x + 1, [41]), 42);
  });

  test("a CA that did not sign the broker's certificate fails with a clear error", T, async () => {
    const { otherCa, otherCaFile, cert, key, certFile, keyFile } = redis.tls!;
    await using pool = new Pool({ broker: redis.url, tls: { ca: otherCa, cert, key } });
    await assert.rejects(
      pool.apply((x: number) => x, [1]),
      (e: Error) =>
        /TLS handshake with the broker/.test(e.message) && /'tls\.ca'/.test(e.message) &&
        !e.message.includes(USER.password),
    );
    // The worker command says the same and exits, instead of waiting.
    await assert.rejects(
      startWorker(redis.url, {
        args: ["--tls-ca", otherCaFile, "--tls-cert", certFile, "--tls-key", keyFile],
      }),
      (e: Error) => /\(1\)/.test(e.message) && /TLS handshake with the broker/.test(e.message),
    );
  });

  test("a client without a certificate is refused by a broker that asks for one", T, async () => {
    await using pool = new Pool({ broker: redis.url, tls: { ca: redis.tls!.ca } });
    await assert.rejects(pool.apply((x: number) => x, [1]), /Cannot start the cluster pool/);
  });

  test("TLS settings need a rediss:// URL and PEM text", () => {
    const plain = redis.url.replace("rediss:", "redis:");
    assert.throws(
      () => new Pool({ broker: plain, tls: { ca: redis.tls!.ca } }),
      (e: Error) => e instanceof TypeError && /need a rediss:\/\/ broker URL/.test(e.message),
    );
    assert.throws(
      () => new Pool({ broker: redis.url, tls: { ca: "/etc/ssl/ca.pem" } }),
      (e: Error) => e instanceof TypeError && /'tls\.ca' must be PEM text/.test(e.message),
    );
    assert.throws(
      () => new Pool({ broker: redis.url, tls: { pfx: "x" } as never }),
      /'tls' has no field 'pfx'/,
    );
  });
});
