// The thread that starts a Manager() calls its server over shared memory (lib/_manager_pipe.ts),
// not TCP: values larger than the pipe's ring, many calls in flight, and calls waiting when
// the server's worker ends. (That an idle manager lets its program exit: managers_test.ts.)
// The scenarios both entry points support run on both.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import * as dummy from "../dummy.ts";
import * as mp from "../mod.ts";

const long = { timeout: 60_000 };
const entries = [["mod.ts", mp], ["dummy.ts", dummy]] as const;

for (const [label, m] of entries) {
  describe(`Manager() calls from its own thread (${label})`, () => {
    test("values larger than the pipe's 1 MiB ring travel both ways, whole", long, async () => {
      await using manager = await m.Manager();
      const d = await manager.dict<string, unknown>();
      const bytes = new Uint8Array(3 * 1024 * 1024 + 7);
      for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31) & 0xff;
      const text = "é€".repeat(700_000);
      await d.set("bytes", bytes);
      await d.set("text", text);
      const back = await d.get("bytes") as Uint8Array;
      assert.equal(back.length, bytes.length);
      assert.deepEqual(back, bytes);
      assert.equal(await d.get("text"), text);
      // Small calls go on after the large ones.
      await d.set("n", 1);
      assert.equal(await d.get("n"), 1);
    });

    test(
      "small binary values keep their bytes after the frames read after them, both ways",
      long,
      async () => {
        // Small frames that wait in the ring are read one after another from one buffer reused
        // for each (lib/_ring.ts, tryLendBytes): a value that kept a view of it would change
        // with the frames read after it. Calls in flight together are read so.
        await using manager = await m.Manager();
        const d = await manager.dict<string, unknown>();
        const value = (i: number) =>
          Uint8Array.from({ length: 40 + i }, (_, k) => (i * 7 + k) & 0xff);
        const n = 50;
        await Promise.all(Array.from({ length: n }, (_, i) => d.set(`k${i}`, value(i))));
        await d.set("c", { tag: "x", bytes: value(300) });
        const got = await Promise.all(Array.from({ length: n }, (_, i) => d.get(`k${i}`)));
        // Replies read after those above, into the same buffer of the client's end, before
        // `got` is checked: a value of `got` that kept a view of it would show their bytes.
        await Promise.all(Array.from({ length: n }, (_, i) => d.get(`k${i}`)));
        assert.deepEqual(got, Array.from({ length: n }, (_, i) => value(i)));
        assert.deepEqual(await d.get("c"), { tag: "x", bytes: value(300) });
      },
    );

    test("200 calls in flight at once each settle with their own result", long, async () => {
      await using manager = await m.Manager();
      const d = await manager.dict<string, number>();
      await Promise.all(Array.from({ length: 200 }, (_, i) => d.set(`k${i}`, i * i)));
      const got = await Promise.all(Array.from({ length: 200 }, (_, i) => d.get(`k${i}`)));
      assert.deepEqual(got, Array.from({ length: 200 }, (_, i) => i * i));
      const l = await manager.list<number>();
      // Sent in order, answered in order: appends made together land in the order made.
      await Promise.all(Array.from({ length: 100 }, (_, i) => l.append(i)));
      assert.deepEqual(await l.copy(), Array.from({ length: 100 }, (_, i) => i));
    });

    test(
      "a call that waits in the server (Queue.get) lets other calls through meanwhile",
      long,
      async () => {
        await using manager = await m.Manager();
        const q = await manager.Queue<string>();
        const d = await manager.dict<string, number>();
        const waiting = q.get();
        for (let i = 0; i < 50; i++) await d.set("i", i);
        assert.equal(await d.get("i"), 49);
        await q.put("done");
        assert.equal(await waiting, "done");
      },
    );
  });
}

describe("Manager() calls from its own thread (mod.ts only)", () => {
  test(
    "calls waiting when the manager's worker crashes fail with EOFError, at once",
    long,
    async () => {
      class Bombs extends mp.BaseManager {}
      Bombs.register("Bomb", () => ({
        arm() {
          // Uncaught in the server's worker: the worker ends.
          setTimeout(() => {
            throw new Error("the bomb went off");
          }, 20);
        },
      }));
      Bombs.register("Queue", () => {
        const items: unknown[] = [];
        return {
          get: () => new Promise(() => {}), // never answers
          put: (x: unknown) => void items.push(x),
        };
      });
      const manager = new Bombs();
      await manager.start();
      try {
        const bomb = await manager.create<{ arm(): Promise<void> }>("Bomb");
        const q = await manager.create<{ get(): Promise<unknown> }>("Queue");
        const failed = assert.rejects(q.get(), mp.EOFError);
        const started = performance.now();
        await bomb.arm();
        await failed;
        assert.ok(performance.now() - started < 10_000);
        // Later calls fail the same way, at once.
        await assert.rejects(q.get(), mp.EOFError);
      } finally {
        await manager.shutdown();
      }
    },
  );

  test("calls waiting when the manager shuts down fail with EOFError", long, async () => {
    const manager = await mp.Manager();
    const q = await manager.Queue<string>();
    const failed = assert.rejects(q.get(), mp.EOFError);
    await manager.shutdown();
    await failed;
  });
});
