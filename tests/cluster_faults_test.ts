// The cluster Pool's semantics under faults (issue 13), against a real redis-server and worker
// programs as OS processes: at-least-once delivery with results recorded once, a poison task,
// terminate(), pools sharing a broker, several runtimes' workers, a broker restart.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { createClient } from "@redis/client";
import { fromModule, Pool } from "../cluster.ts";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { childEnv, runtimeCommand } from "./_child.ts";
import { haveRedis, startRedis, startWorker, type WorkerProcess } from "./_redis.ts";

const TASKS = new URL("./fixtures/cluster_tasks.ts", import.meta.url).href;
const pause = fromModule<(x: number) => Promise<number>>(TASKS, "pause");
const lag = fromModule<(x: number) => Promise<number>>(TASKS, "lag");
const stamp = fromModule<(path: string, x: number, ms: number) => Promise<number>>(
  TASKS,
  "stamp",
);
const crash = fromModule<() => never>(TASKS, "crash");
const crashOn = fromModule<(x: number) => number>(TASKS, "crashOn");
const tagged = fromModule<(x: number) => [number, string]>(TASKS, "tagged");
const T = { timeout: 120_000 };
const VISIBILITY = 3000;

/** The broker's keys matching `pattern`, by a client of the test's own. */
async function keys(url: string, pattern: string): Promise<string[]> {
  const client = await createClient({ url }).connect();
  try {
    return await client.keys(pattern);
  } finally {
    client.destroy();
  }
}

describe(
  "cluster Pool under faults",
  { skip: !haveRedis() && "redis-server is not installed" },
  () => {
    test(
      "Pool.map() of 100,000 items across a Deno, a Bun and a Node worker returns every result once, in order",
      T,
      async () => {
        const redis = await startRedis();
        const workers: WorkerProcess[] = [];
        try {
          for (const runtime of ["deno", "bun", "node"] as const) {
            workers.push(await startWorker(redis.url, { runtime }));
          }
          await using pool = new Pool({ broker: redis.url, processes: 6 });
          const items = Array.from({ length: 100_000 }, (_, i) => i);
          const results = await pool.map(tagged, items);
          assert.equal(results.length, items.length);
          for (let i = 0; i < items.length; i++) {
            if (results[i][0] !== i) assert.fail(`result ${i} is ${JSON.stringify(results[i])}`);
          }
          const runtimes = new Set(results.map((r) => r[1]));
          for (const r of runtimes) assert.ok(["deno", "bun", "node"].includes(r), r);
        } finally {
          await Promise.all(workers.map((w) => w.stop()));
          await redis.stop();
        }
      },
    );

    test(
      "Pool.imap() of 100,000 items completes, in order and once each, when a worker is killed with SIGKILL mid-way and another joins late",
      T,
      async () => {
        const redis = await startRedis();
        const first = await startWorker(redis.url);
        let late: WorkerProcess | undefined;
        try {
          await using pool = new Pool({
            broker: redis.url,
            processes: 2,
            visibilityTimeout: VISIBILITY,
          });
          const n = 100_000;
          const out: number[] = [];
          for await (const x of pool.imap(lag, Array.from({ length: n }, (_, i) => i), 1000)) {
            out.push(x);
            if (out.length === 10_000) {
              // The first worker holds chunks it will never finish: the late one claims them.
              await first.stop("SIGKILL");
              late = await startWorker(redis.url);
            }
          }
          assert.equal(out.length, n);
          for (let i = 0; i < n; i++) if (out[i] !== i) assert.fail(`result ${i} is ${out[i]}`);
        } finally {
          await first.stop("SIGKILL");
          await late?.stop();
          await redis.stop();
        }
      },
    );

    test(
      "a chunk whose worker stalls past visibilityTimeout runs again elsewhere, and its result is recorded once",
      T,
      async () => {
        const redis = await startRedis();
        const stalled = await startWorker(redis.url, { processes: 1 });
        let other: WorkerProcess | undefined;
        const dir = mkdtempSync(join(tmpdir(), "mp-cluster-"));
        const runs = join(dir, "runs");
        const client = await createClient({ url: redis.url }).connect();
        try {
          await using pool = new Pool({
            broker: redis.url,
            processes: 1,
            visibilityTimeout: VISIBILITY,
          });
          const result = pool.applyAsync(stamp, [runs, 7, 2000]);
          // Once the first worker holds the chunk, it stops (SIGSTOP): no heartbeat, no result.
          for (let i = 0;; i++) {
            const [tasks] = await client.keys("mp:*:tasks");
            const pending = tasks === undefined
              ? 0
              : (await client.sendCommand(["XPENDING", tasks, "workers"]) as [number])[0];
            if (pending === 1) break;
            assert.ok(i < 400, "the first worker did not take the chunk");
            await new Promise((r) => setTimeout(r, 50));
          }
          process.kill(stalled.child.pid!, "SIGSTOP");
          other = await startWorker(redis.url, { processes: 1 });
          assert.equal(await result.get(), 7);
          await other.logged(/claimed chunk/);
          // The first worker wakes, finishes its run, and is refused when it records it.
          process.kill(stalled.child.pid!, "SIGCONT");
          for (let i = 0; !existsSync(runs) || readFileSync(runs, "utf8") !== "7\n7\n"; i++) {
            assert.ok(i < 400, "the stalled worker did not finish its run");
            await new Promise((r) => setTimeout(r, 50));
          }
          assert.deepEqual(await pool.map((x: number) => x, [1, 2, 3]), [1, 2, 3]);
          const [done] = await client.keys("mp:*:done");
          assert.equal(done === undefined ? 0 : await client.hLen(done), 0);
        } finally {
          client.destroy();
          try {
            process.kill(stalled.child.pid!, "SIGCONT");
          } catch {
            // It has ended.
          }
          await stalled.stop();
          await other?.stop();
          await redis.stop();
          rmSync(dir, { recursive: true, force: true });
        }
      },
    );

    test(
      "a task that kills its worker every time fails after maxDeliveries with an error that says so",
      T,
      async () => {
        const redis = await startRedis();
        let worker = await startWorker(redis.url);
        let deaths = 0;
        let settled = false;
        // A supervisor, as systemd would be: each worker the task kills is replaced.
        const supervise = (async () => {
          while (!settled) {
            const result = await Promise.race([
              worker.exited,
              new Promise((r) => setTimeout(() => r("running"), 200)),
            ]);
            if (result !== "running" && !settled) {
              deaths++;
              worker = await startWorker(redis.url);
            }
          }
        })();
        try {
          await using pool = new Pool({
            broker: redis.url,
            visibilityTimeout: VISIBILITY,
            maxDeliveries: 2,
          });
          const poison = pool.apply(crash, []);
          await assert.rejects(
            poison,
            (e: Error) =>
              /handed to a worker 2 times/.test(e.message) && /maxDeliveries \(2\)/.test(e.message),
          );
          assert.equal(deaths, 2);
          // The workers go on with other work.
          assert.equal(await pool.apply((x: number) => x + 1, [1]), 2);
        } finally {
          settled = true;
          await supervise;
          await worker.stop();
          await redis.stop();
        }
      },
    );

    test(
      "a task that kills its worker fails alone: the cheap tasks sent with it in one entry complete",
      T,
      async () => {
        const redis = await startRedis();
        const started: WorkerProcess[] = [await startWorker(redis.url)];
        let settled = false;
        const supervise = (async () => {
          while (!settled) {
            const result = await Promise.race([
              started[started.length - 1].exited,
              new Promise((r) => setTimeout(() => r("running"), 200)),
            ]);
            if (result !== "running" && !settled) started.push(await startWorker(redis.url));
          }
        })();
        try {
          await using pool = new Pool({
            broker: redis.url,
            visibilityTimeout: VISIBILITY,
            maxDeliveries: 2,
            processes: 2,
          });
          // The pool learns that crashOn is cheap, and sends it several to an entry.
          const items = Array.from({ length: 2000 }, (_, i) => i);
          assert.deepEqual(await pool.map(crashOn, items, 1), items);
          const results = await Promise.allSettled(
            Array.from({ length: 200 }, (_, i) => pool.apply(crashOn, [i === 100 ? -1 : i])),
          );
          for (let i = 0; i < results.length; i++) {
            const r = results[i];
            if (i === 100) {
              assert.equal(r.status, "rejected");
              assert.match(((r as PromiseRejectedResult).reason as Error).message, /maxDeliveries/);
            } else {
              assert.deepEqual(r, { status: "fulfilled", value: i }, `task ${i}`);
            }
          }
        } finally {
          settled = true;
          await supervise;
          await started[started.length - 1].stop();
          await redis.stop();
        }
      },
    );

    test(
      "Pool.terminate() mid-map fails the work, withdraws its chunks and leaves the workers serving",
      T,
      async () => {
        const redis = await startRedis();
        const worker = await startWorker(redis.url);
        try {
          const pool = new Pool({ broker: redis.url, processes: 2 });
          const n = 400;
          const results = pool.imap(pause, Array.from({ length: n }, (_, i) => i), 10);
          assert.deepEqual(await results.next(), { done: false, value: 0 });
          await pool.terminate();
          let received = 1;
          await assert.rejects(async () => {
            for (let step = await results.next(); !step.done; step = await results.next()) {
              received++;
            }
          }, /terminated/);
          assert.ok(received < n, `received all ${received} results`);
          assert.deepEqual(await keys(redis.url, "mp:*"), []);
          await using next = new Pool({ broker: redis.url });
          assert.deepEqual(await next.map((x: number) => x * 2, [1, 2, 3]), [2, 4, 6]);
        } finally {
          await worker.stop();
          await redis.stop();
        }
      },
    );

    test(
      "pools on one broker see only their own work; a prefix keeps namespaces apart",
      T,
      async () => {
        const redis = await startRedis();
        const worker = await startWorker(redis.url);
        const other = await startWorker(redis.url, { prefix: "other" });
        try {
          await using a = new Pool({ broker: redis.url, processes: 2 });
          await using b = new Pool({ broker: redis.url, processes: 2 });
          await using c = new Pool({ broker: redis.url, processes: 2, prefix: "other" });
          const items = Array.from({ length: 3000 }, (_, i) => i);
          const [ra, rb, rc] = await Promise.all([
            a.map((x: number) => x + 1, items),
            b.map((x: number) => x * 10, items),
            c.map((x: number) => x - 1, items),
          ]);
          assert.deepEqual(ra, items.map((x) => x + 1));
          assert.deepEqual(rb, items.map((x) => x * 10));
          assert.deepEqual(rc, items.map((x) => x - 1));
        } finally {
          await worker.stop();
          await other.stop();
          await redis.stop();
        }
      },
    );

    test("a broker restarted with its append-only file on loses no accepted task", T, async () => {
      let redis = await startRedis({ appendonly: true });
      const worker = await startWorker(redis.url);
      try {
        await using pool = new Pool({
          broker: redis.url,
          processes: 2,
          visibilityTimeout: VISIBILITY,
        });
        const n = 300;
        const out: number[] = [];
        for await (const x of pool.imap(pause, Array.from({ length: n }, (_, i) => i), 10)) {
          out.push(x);
          if (out.length === 30) {
            const { dir, port } = redis;
            await redis.kill();
            redis = await startRedis({ appendonly: true, dir, port });
          }
        }
        assert.deepEqual(out, Array.from({ length: n }, (_, i) => i));
      } finally {
        await worker.stop();
        await redis.stop();
      }
    });

    test(
      "a pool whose program dies has its chunks dropped after twice its visibilityTimeout",
      T,
      async () => {
        const redis = await startRedis();
        const worker = await startWorker(redis.url);
        const [command, args] = runtimeCommand(
          fileURLToPath(new URL("./fixtures/cluster_caller.ts", import.meta.url)),
        );
        const caller = spawn(command, [...args, redis.url], {
          env: childEnv(),
          stdio: ["ignore", "pipe", "inherit"],
        });
        try {
          await new Promise<void>((resolve, reject) => {
            let out = "";
            caller.stdout!.on("data", (chunk) => {
              out += chunk;
              if (out.includes("submitted")) resolve();
            });
            caller.once("exit", (code) => reject(new Error(`the caller exited with ${code}`)));
          });
          assert.notDeepEqual(await keys(redis.url, "mp:*"), []);
          caller.kill("SIGKILL");
          const deadline = Date.now() + 60_000;
          while ((await keys(redis.url, "mp:*")).length > 0) {
            assert.ok(Date.now() < deadline, "the dead caller's keys are still there after 60 s");
            await new Promise((r) => setTimeout(r, 250));
          }
          await worker.logged(/dropped the work of pool/);
          await using pool = new Pool({ broker: redis.url });
          assert.equal(await pool.apply((x: number) => x, [7]), 7);
        } finally {
          caller.kill("SIGKILL");
          await worker.stop();
          await redis.stop();
        }
      },
    );

    test(
      "a pool whose work the workers dropped (its program paused too long) fails its tasks instead of waiting for ever",
      T,
      async () => {
        const redis = await startRedis();
        const client = await createClient({ url: redis.url }).connect();
        try {
          await using pool = new Pool({ broker: redis.url, visibilityTimeout: VISIBILITY });
          const results = [pool.apply((x: number) => x, [1]), pool.apply((x: number) => x, [2])];
          let alive: string | undefined;
          for (let i = 0; alive === undefined; i++) {
            assert.ok(i < 400, "the pool did not register");
            [alive] = await client.keys("mp:*:alive");
            await new Promise((r) => setTimeout(r, 50));
          }
          // What a worker does when the key has expired.
          await client.del(alive);
          for (const result of results) await assert.rejects(result, /dropped its work/);
        } finally {
          client.destroy();
          await redis.stop();
        }
      },
    );
  },
);
