import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Worker } from "node:worker_threads";
import { allocatePid, currentProcess } from "../lib/context.ts";
import { BrokenBarrierError, ProcessError } from "../lib/errors.ts";
import {
  decodeError,
  decodeShared,
  encodeShared,
  fromModule,
  type WireError,
} from "../lib/reduction.ts";
import {
  Barrier,
  BoundedSemaphore,
  Condition,
  Event,
  Lock,
  RLock,
  Semaphore,
} from "../lib/synchronize.ts";
import * as dummy from "../dummy.ts";
import * as mp from "../mod.ts";
import { runChild } from "./_child.ts";
import type { RunRequest } from "./fixtures/sync_worker.ts";

const fixture = new URL("./fixtures/sync_worker.ts", import.meta.url);

/** Tests that start workers (Bun's default limit is 5 s). */
const long = { timeout: 60_000 };

/** A worker of the test's own (not a pool's), with an identity of its own for RLock. */
class Thread {
  #worker: Worker;
  #next = 1;
  #pending = new Map<number, { resolve(value: unknown): void; reject(error: unknown): void }>();

  constructor(name: string) {
    const { pid, counter } = allocatePid();
    this.#worker = new Worker(fixture, {
      workerData: {
        name,
        pid,
        parent: { ...currentProcess() },
        pidCounter: counter,
        identity: [],
      },
    });
    this.#worker.on(
      "message",
      (message: { id: number; ok: boolean; value: unknown; error: WireError }) => {
        const pending = this.#pending.get(message.id)!;
        this.#pending.delete(message.id);
        if (message.ok) pending.resolve(decodeShared(message.value));
        else pending.reject(decodeError(message.error));
      },
    );
    this.#worker.on("error", (error) => {
      for (const pending of this.#pending.values()) pending.reject(error);
      this.#pending.clear();
    });
  }

  /** Runs a self-contained function in the worker, with `args` sent as a pool sends them. */
  run<A extends unknown[], R>(fn: (...args: A) => R, args: A): Promise<Awaited<R>> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      const request: RunRequest = { id, source: fn.toString(), args: encodeShared(args) };
      this.#worker.postMessage(request);
    });
  }

  async terminate(): Promise<void> {
    await this.#worker.terminate();
  }
}

async function withThreads(
  count: number,
  body: (threads: Thread[]) => Promise<void>,
): Promise<void> {
  const threads = Array.from({ length: count }, (_, i) => new Thread(`SyncWorker-${i + 1}`));
  try {
    await body(threads);
  } finally {
    await Promise.all(threads.map((t) => t.terminate()));
  }
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Whether `promise` is still unsettled after the event loop has turned for a while. */
async function pending(promise: Promise<unknown>, ms = 30): Promise<boolean> {
  const marker = Symbol("pending");
  const first = await Promise.race([
    promise.then(() => null, () => null),
    delay(ms).then(() => marker),
  ]);
  return first === marker;
}

/** Checks that a promise settled within a generous bound, for the "false after timeout" tests. */
async function timed<T>(promise: Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const value = await promise;
  return [value, performance.now() - start];
}

describe("Lock", () => {
  test("Lock.acquire() takes a free lock and locked() reports it", async () => {
    const lock = new Lock();
    assert.equal(lock.locked(), false);
    assert.equal(await lock.acquire(), true);
    assert.equal(lock.locked(), true);
    lock.release();
    assert.equal(lock.locked(), false);
  });

  test("Lock.acquire({ block: false }) returns false at once while the lock is held", async () => {
    const lock = new Lock();
    await lock.acquire();
    assert.equal(await lock.acquire({ block: false }), false);
    assert.equal(await lock.acquire({ block: false, timeout: 10_000 }), false);
    lock.release();
    assert.equal(await lock.acquire({ block: false }), true);
  });

  test("Lock.acquire({ timeout }) returns false after the timeout while the lock is held", async () => {
    const lock = new Lock();
    await lock.acquire();
    const [ok, ms] = await timed(lock.acquire({ timeout: 20 }));
    assert.equal(ok, false);
    assert.ok(ms >= 15 && ms < 5_000, `took ${ms} ms`);
    assert.equal(await lock.acquire({ timeout: 0 }), false);
    assert.ok(lock.locked());
  });

  test("Lock stays usable after an acquire() timed out on it", async () => {
    const lock = new Lock();
    await lock.acquire();
    assert.equal(await lock.acquire({ timeout: 5 }), false);
    lock.release();
    assert.equal(lock.locked(), false);
    assert.equal(await lock.acquire({ block: false }), true);
    lock.release();
  });

  test("Lock.acquire() waits while another async task of this thread holds it", async () => {
    const lock = new Lock();
    await lock.acquire();
    const second = lock.acquire();
    assert.ok(await pending(second));
    lock.release();
    assert.equal(await second, true);
    assert.ok(lock.locked());
    lock.release();
  });

  test("Lock.acquire({ timeout }) succeeds when the holder releases within the timeout", async () => {
    const lock = new Lock();
    await lock.acquire();
    const waiting = lock.acquire({ timeout: 30_000 });
    setTimeout(() => lock.release(), 5);
    assert.equal(await waiting, true);
    lock.release();
  });

  test("Lock keeps async tasks of one thread out of a critical section together", async () => {
    const lock = new Lock();
    let inside = 0;
    let most = 0;
    await Promise.all(Array.from({ length: 20 }, async () => {
      for (let i = 0; i < 5; i++) {
        await lock.withLock(async () => {
          most = Math.max(most, ++inside);
          await delay(0);
          inside--;
        });
      }
    }));
    assert.equal(most, 1);
    assert.equal(lock.locked(), false);
  });

  test("Lock.release() of an unlocked lock throws an Error that says what to do", () => {
    const lock = new Lock();
    assert.throws(() => lock.release(), {
      name: "Error",
      message: "Cannot release an unlocked lock: release only after a successful acquire()",
    });
  });

  test("Lock.release() may be called by another task than the one that acquired it", async () => {
    const lock = new Lock();
    await lock.acquire();
    await Promise.resolve().then(() => lock.release());
    assert.equal(lock.locked(), false);
  });

  test("Lock.acquire() rejects options of the wrong type or range", async () => {
    const lock = new Lock();
    await assert.rejects(lock.acquire({ timeout: "1" as unknown as number }), TypeError);
    await assert.rejects(lock.acquire({ block: 0 as unknown as boolean }), TypeError);
    await assert.rejects(lock.acquire(5 as unknown as { block: boolean }), TypeError);
    await assert.rejects(lock.acquire({ timeout: NaN }), {
      name: "RangeError",
      message:
        "Cannot acquire the lock as 'timeout' must be a number of milliseconds: received NaN",
    });
    assert.equal(lock.locked(), false);
  });

  test("Lock.withLock() returns fn's value and releases the lock even when fn throws", async () => {
    const lock = new Lock();
    assert.equal(await lock.withLock(() => 42), 42);
    assert.equal(await lock.withLock(() => Promise.resolve("async")), "async");
    await assert.rejects(
      lock.withLock(() => {
        assert.ok(lock.locked());
        throw new Error("boom");
      }),
      /boom/,
    );
    assert.equal(lock.locked(), false);
  });

  test("Lock.guard() releases the lock at the end of a using block, once", async () => {
    const lock = new Lock();
    {
      using _held = await lock.guard();
      assert.ok(lock.locked());
    }
    assert.equal(lock.locked(), false);
    const guard = await lock.guard();
    guard[Symbol.dispose]();
    guard[Symbol.dispose]();
    assert.equal(lock.locked(), false);
    await lock.acquire();
    lock.release();
  });

  test("Lock travels through encodeShared() as a Lock over the same memory", async () => {
    const lock = new Lock();
    const copy = decodeShared(structuredClone(encodeShared(lock))) as Lock;
    assert.ok(copy instanceof Lock);
    assert.notEqual(copy, lock);
    await lock.acquire();
    assert.ok(copy.locked());
    assert.equal(await copy.acquire({ block: false }), false);
    copy.release();
    assert.equal(lock.locked(), false);
  });

  test("Lock's reviver rejects a record whose state is not a Lock's", () => {
    const record = encodeShared(new Lock()) as { state: { buffer: unknown } };
    record.state.buffer = new ArrayBuffer(4);
    assert.throws(() => decodeShared(record), /Cannot receive a shared Lock/);
  });

  test(
    "Lock.acquire({ block: false }) returns false while another worker holds it",
    long,
    async () => {
      await withThreads(2, async ([a, b]) => {
        const lock = new Lock();
        const held = new Event();
        const done = new Event();
        const holder = a.run(async (lock: Lock, held: Event, done: Event) => {
          await lock.acquire();
          held.set();
          await done.wait();
          lock.release();
        }, [lock, held, done]);
        await held.wait();
        assert.ok(lock.locked());
        assert.equal(await lock.acquire({ block: false }), false);
        assert.equal(await b.run((lock: Lock) => lock.acquire({ block: false }), [lock]), false);
        const [ok, ms] = await timed(b.run((lock: Lock) => lock.acquire({ timeout: 20 }), [lock]));
        assert.equal(ok, false);
        assert.ok(ms >= 15 && ms < 10_000, `took ${ms} ms`);
        done.set();
        await holder;
        assert.equal(await lock.acquire({ block: false }), true);
        lock.release();
      });
    },
  );

  test("Lock.acquire() in the main thread waits until a worker releases it", long, async () => {
    await withThreads(1, async ([a]) => {
      const lock = new Lock();
      const held = new Event();
      const release = new Event();
      const holder = a.run(async (lock: Lock, held: Event, release: Event) => {
        await lock.acquire();
        held.set();
        await release.wait();
        lock.release();
        return "released";
      }, [lock, held, release]);
      await held.wait();
      const acquiring = lock.acquire();
      assert.ok(await pending(acquiring));
      release.set();
      assert.equal(await acquiring, true);
      assert.equal(await holder, "released");
      lock.release();
    });
  });

  test("Lock.release() in a worker lets a lock acquired in the main thread go", long, async () => {
    await withThreads(1, async ([a]) => {
      const lock = new Lock();
      await lock.acquire();
      await a.run((lock: Lock) => lock.release(), [lock]);
      assert.equal(lock.locked(), false);
      await assert.rejects(a.run((lock: Lock) => lock.release(), [lock]), /unlocked lock/);
    });
  });

  test("Lock makes read-modify-write of shared memory atomic across workers", long, async () => {
    await withThreads(3, async (threads) => {
      const lock = new Lock();
      const counter = new Int32Array(new SharedArrayBuffer(4));
      const work = async (lock: Lock, counter: Int32Array, rounds: number) => {
        for (let i = 0; i < rounds; i++) {
          await lock.acquire();
          const value = counter[0]; // plain read and write: only the lock protects them
          if (i % 50 === 0) await new Promise((r) => setTimeout(r, 0));
          counter[0] = value + 1;
          lock.release();
        }
      };
      await Promise.all([
        ...threads.map((t) => t.run(work, [lock, counter, 2_000])),
        work(lock, counter, 2_000),
      ]);
      assert.equal(Atomics.load(counter, 0), 8_000);
      assert.equal(lock.locked(), false);
    });
  });
});

describe("RLock", () => {
  test("RLock.acquire() lets its owner acquire it again and counts the levels", async () => {
    const lock = new RLock();
    assert.equal(await lock.acquire(), true);
    assert.equal(await lock.acquire(), true);
    assert.equal(await lock.acquire({ block: false }), true);
    lock.release();
    lock.release();
    assert.ok(lock.locked());
    lock.release();
    assert.equal(lock.locked(), false);
  });

  test("RLock.release() of an unlocked lock throws an Error that says what to do", () => {
    assert.throws(() => new RLock().release(), {
      name: "Error",
      message: "Cannot release an unlocked lock: release only after a successful acquire()",
    });
  });

  test("RLock shares ownership between async tasks of one thread, as Python's thread", async () => {
    const lock = new RLock();
    await lock.acquire();
    assert.equal(await Promise.resolve().then(() => lock.acquire({ block: false })), true);
    lock.release();
    lock.release();
    assert.equal(lock.locked(), false);
  });

  test("RLock excludes another same-thread Process of dummy.ts, as Python's dummy threads", async () => {
    const lock = new RLock();
    const total = new Int32Array(1);
    let inside = 0;
    let most = 0;
    const add = async () => {
      for (let i = 0; i < 20; i++) {
        await lock.acquire();
        most = Math.max(most, ++inside);
        const seen = total[0];
        await new Promise((resolve) => setTimeout(resolve, 0)); // another process may run now
        total[0] = seen + 1;
        inside--;
        lock.release();
      }
    };
    const ps = [0, 1].map(() => new dummy.Process({ target: add }));
    for (const p of ps) p.start();
    for (const p of ps) await p.join();
    assert.deepEqual(ps.map((p) => p.exitcode), [0, 0]);
    assert.equal(most, 1);
    assert.equal(total[0], 40);
  });

  test("RLock held by one dummy.ts Process cannot be released by another", async () => {
    const lock = new RLock();
    const holder = new dummy.Process({ target: () => lock.acquire() });
    holder.start();
    await holder.join();
    let error: unknown;
    const other = new dummy.Process({
      target: () => {
        try {
          lock.release();
        } catch (e) {
          error = e;
        }
      },
    });
    other.start();
    await other.join();
    assert.match(String(error), /Cannot release a lock that another thread holds/);
    assert.equal(lock.locked(), true);
  });

  test("RLock excludes two tasks of a dummy.ts Pool, which run as threads of their own", async () => {
    await using pool = new dummy.Pool(2);
    const lock = new RLock();
    let inside = 0;
    let most = 0;
    const names = await pool.map(
      async () => {
        await lock.acquire();
        most = Math.max(most, ++inside);
        await new Promise((resolve) => setTimeout(resolve, 1));
        inside--;
        lock.release();
        return dummy.currentProcess().name;
      },
      [1, 2, 3, 4],
      1,
    );
    assert.equal(most, 1);
    assert.deepEqual(new Set(names), new Set(["DummyWorker-1", "DummyWorker-2"]));
  });

  test("RLock.withLock() and RLock.guard() release every level they took", async () => {
    const lock = new RLock();
    const value = await lock.withLock(() => lock.withLock(() => 7));
    assert.equal(value, 7);
    assert.equal(lock.locked(), false);
    {
      using _outer = await lock.guard();
      using _inner = await lock.guard();
      assert.ok(lock.locked());
    }
    assert.equal(lock.locked(), false);
  });

  test("RLock.acquire() rejects a NaN timeout with RangeError", async () => {
    await assert.rejects(new RLock().acquire({ timeout: NaN }), RangeError);
  });

  test(
    "RLock.acquire({ block: false }) returns false in a worker while the main thread owns it",
    long,
    async () => {
      await withThreads(1, async ([a]) => {
        const lock = new RLock();
        await lock.acquire();
        await lock.acquire();
        assert.equal(await a.run((lock: RLock) => lock.acquire({ block: false }), [lock]), false);
        assert.equal(await a.run((lock: RLock) => lock.acquire({ timeout: 10 }), [lock]), false);
        lock.release();
        assert.equal(await a.run((lock: RLock) => lock.acquire({ block: false }), [lock]), false);
        lock.release();
        const levels = await a.run(async (lock: RLock) => {
          await lock.acquire();
          await lock.acquire();
          lock.release();
          const still = lock.locked();
          lock.release();
          return [still, lock.locked()];
        }, [lock]);
        assert.deepEqual(levels, [true, false]);
      });
    },
  );

  test(
    "RLock.release() in a worker that does not own it throws and leaves it held",
    long,
    async () => {
      await withThreads(1, async ([a]) => {
        const lock = new RLock();
        await lock.acquire();
        await assert.rejects(a.run((lock: RLock) => lock.release(), [lock]), {
          name: "Error",
          message: /another thread holds/,
        });
        assert.ok(lock.locked());
        lock.release();
        assert.equal(lock.locked(), false);
      });
    },
  );

  test(
    "RLock.acquire() in the main thread waits until the owning worker releases every level",
    long,
    async () => {
      await withThreads(1, async ([a]) => {
        const lock = new RLock();
        const held = new Event();
        const go = new Event();
        const holder = a.run(async (lock: RLock, held: Event, go: Event) => {
          await lock.acquire();
          await lock.acquire();
          held.set();
          await go.wait();
          lock.release();
          await new Promise((r) => setTimeout(r, 10));
          lock.release();
        }, [lock, held, go]);
        await held.wait();
        const acquiring = lock.acquire();
        assert.ok(await pending(acquiring));
        go.set();
        assert.equal(await acquiring, true);
        await holder;
        lock.release();
        assert.equal(lock.locked(), false);
      });
    },
  );
});

describe("Semaphore", () => {
  test("Semaphore() checks its value up front", () => {
    assert.throws(() => new Semaphore(-1), {
      name: "RangeError",
      message: "Cannot create a semaphore as 'value' must be a non-negative integer: received -1",
    });
    assert.throws(() => new Semaphore(1.5), RangeError);
    assert.throws(() => new Semaphore("2" as unknown as number), TypeError);
    assert.throws(() => new BoundedSemaphore(-1), /bounded semaphore/);
    assert.equal(new Semaphore().getValue(), 1);
    assert.equal(new Semaphore(0).getValue(), 0);
  });

  test("Semaphore.acquire() decrements the value and release(n) adds n", async () => {
    const semaphore = new Semaphore(2);
    assert.equal(await semaphore.acquire(), true);
    assert.equal(semaphore.getValue(), 1);
    assert.equal(await semaphore.acquire(), true);
    assert.equal(semaphore.getValue(), 0);
    assert.equal(await semaphore.acquire({ block: false }), false);
    semaphore.release(3);
    assert.equal(semaphore.getValue(), 3);
  });

  test("Semaphore.acquire({ timeout }) on a zero semaphore returns false after the timeout", async () => {
    const [ok, ms] = await timed(new Semaphore(0).acquire({ timeout: 10 }));
    assert.equal(ok, false);
    assert.ok(ms >= 5 && ms < 5_000, `took ${ms} ms`);
  });

  test("Semaphore.release(n) wakes exactly n waiting tasks", async () => {
    const semaphore = new Semaphore(0);
    let woken = 0;
    const waiters = Array.from({ length: 5 }, () => semaphore.acquire().then(() => woken++));
    await delay(10);
    assert.equal(woken, 0);
    semaphore.release(2);
    await Promise.race([Promise.all(waiters), delay(50)]);
    assert.equal(woken, 2);
    assert.equal(semaphore.getValue(), 0);
    semaphore.release(3);
    await Promise.all(waiters);
    assert.equal(woken, 5);
  });

  test("Semaphore.release() rejects a count that is not a positive integer", () => {
    const semaphore = new Semaphore(0);
    assert.throws(() => semaphore.release(0), RangeError);
    assert.throws(() => semaphore.release(-1), RangeError);
    assert.throws(() => semaphore.release("1" as unknown as number), TypeError);
    assert.equal(semaphore.getValue(), 0);
  });

  test("Semaphore.withLock() and Semaphore.guard() give back what they took", async () => {
    const semaphore = new Semaphore(1);
    assert.equal(await semaphore.withLock(() => semaphore.getValue()), 0);
    assert.equal(semaphore.getValue(), 1);
    {
      using _held = await semaphore.guard();
      assert.equal(semaphore.getValue(), 0);
    }
    assert.equal(semaphore.getValue(), 1);
  });

  test("BoundedSemaphore.release() past its initial value throws RangeError and keeps the value", async () => {
    const semaphore = new BoundedSemaphore(2);
    assert.ok(semaphore instanceof Semaphore);
    assert.throws(() => semaphore.release(), {
      name: "RangeError",
      message:
        "Cannot release the bounded semaphore as its value would rise above its initial value 2: release only as many times as you acquired it",
    });
    await semaphore.acquire();
    assert.throws(() => semaphore.release(2), RangeError);
    semaphore.release();
    assert.equal(semaphore.getValue(), 2);
  });

  test("Semaphore and BoundedSemaphore stay consistent after an acquire() timed out", async () => {
    const held = async (s: Semaphore) => {
      await s.acquire();
      return s;
    };
    for (const semaphore of [new Semaphore(0), await held(new BoundedSemaphore(1))]) {
      assert.equal(await semaphore.acquire({ timeout: 10 }), false);
      assert.equal(semaphore.getValue(), 0);
      semaphore.release();
      assert.equal(semaphore.getValue(), 1); // not given to the waiter that timed out
      assert.equal(await semaphore.acquire({ block: false }), true);
      // A waiter that timed out ahead of a live one does not take the live one's release.
      const ghost = semaphore.acquire({ timeout: 10 });
      const live = semaphore.acquire({ timeout: 10_000 });
      assert.equal(await ghost, false);
      assert.equal(semaphore.getValue(), 0);
      semaphore.release();
      assert.equal(await live, true);
      assert.equal(semaphore.getValue(), 0);
      semaphore.release();
      assert.equal(await semaphore.acquire({ block: false }), true);
      semaphore.release();
      assert.equal(semaphore.getValue(), 1);
      if (semaphore instanceof BoundedSemaphore) {
        assert.throws(() => semaphore.release(), RangeError); // its bound still holds
      }
    }
  });

  test("Semaphore lets at most value holders in at once across workers", long, async () => {
    await withThreads(3, async (threads) => {
      const semaphore = new Semaphore(2);
      const stats = new Int32Array(new SharedArrayBuffer(8)); // [inside now, most inside]
      const work = async (semaphore: Semaphore, stats: Int32Array) => {
        for (let i = 0; i < 200; i++) {
          await semaphore.acquire();
          const inside = Atomics.add(stats, 0, 1) + 1;
          for (;;) {
            const most = Atomics.load(stats, 1);
            if (inside <= most || Atomics.compareExchange(stats, 1, most, inside) === most) break;
          }
          if (i % 10 === 0) await new Promise((r) => setTimeout(r, 0));
          Atomics.sub(stats, 0, 1);
          semaphore.release();
        }
      };
      await Promise.all([
        ...threads.map((t) => t.run(work, [semaphore, stats])),
        work(semaphore, stats),
      ]);
      assert.ok(stats[1] <= 2 && stats[1] >= 1, `at most ${stats[1]} inside`);
      assert.equal(semaphore.getValue(), 2);
    });
  });

  test("Semaphore.acquire() in a worker waits until the main thread releases", long, async () => {
    await withThreads(2, async ([a, b]) => {
      const semaphore = new Semaphore(0);
      const first = a.run((s: Semaphore) => s.acquire(), [semaphore]);
      const second = b.run((s: Semaphore) => s.acquire({ timeout: 30_000 }), [semaphore]);
      assert.ok(await pending(first));
      semaphore.release(2);
      assert.deepEqual(await Promise.all([first, second]), [true, true]);
      assert.equal(semaphore.getValue(), 0);
      assert.equal(await a.run((s: Semaphore) => s.acquire({ timeout: 10 }), [semaphore]), false);
    });
  });

  test(
    "BoundedSemaphore travels to a worker as a BoundedSemaphore that keeps its bound",
    long,
    async () => {
      await withThreads(1, async ([a]) => {
        const semaphore = new BoundedSemaphore(1);
        await semaphore.acquire();
        const result = await a.run((s: Semaphore) => {
          s.release();
          try {
            s.release();
            return "no error";
          } catch (error) {
            return `${(error as Error).name} ${s.constructor.name}`;
          }
        }, [semaphore]);
        assert.equal(result, "RangeError BoundedSemaphore");
        assert.equal(semaphore.getValue(), 1);
      });
    },
  );
});

describe("Condition", () => {
  test("Condition() uses a new RLock by default and accepts only a Lock or an RLock", async () => {
    const cond = new Condition();
    await cond.acquire();
    assert.equal(await cond.acquire(), true); // re-entrant: an RLock
    cond.release();
    cond.release();
    assert.throws(() => new Condition({} as Lock), {
      name: "TypeError",
      message: /'lock' must be a Lock, an RLock or undefined/,
    });
  });

  test("Condition.wait() and Condition.notify() without the lock held throw", async () => {
    for (const cond of [new Condition(), new Condition(new Lock())]) {
      await assert.rejects(cond.wait(), { name: "Error", message: /lock is not held/ });
      assert.throws(() => cond.notify(), { name: "Error", message: /lock is not held/ });
      assert.throws(() => cond.notifyAll(), /lock is not held/);
    }
  });

  test("Condition.wait(timeout) returns false after the timeout, holding the lock again", async () => {
    for (const lock of [new Lock(), new RLock()]) {
      const cond = new Condition(lock);
      await cond.acquire();
      const [notified, ms] = await timed(cond.wait(20));
      assert.equal(notified, false);
      assert.ok(ms >= 15 && ms < 5_000, `took ${ms} ms`);
      assert.ok(lock.locked());
      cond.release();
      assert.equal(lock.locked(), false);
    }
  });

  test("Condition.wait() releases the lock while it waits and returns true when notified", async () => {
    const lock = new Lock();
    const cond = new Condition(lock);
    await cond.acquire();
    const waiting = cond.wait();
    assert.equal(lock.locked(), false);
    await cond.acquire();
    cond.notify();
    assert.ok(await pending(waiting)); // it must hold the lock again before it returns
    cond.release();
    assert.equal(await waiting, true);
    assert.ok(lock.locked());
    cond.release();
  });

  test("Condition.wait() with an RLock held twice releases both levels and restores them", async () => {
    const lock = new RLock();
    const cond = new Condition(lock);
    await cond.acquire();
    await cond.acquire();
    const waiting = cond.wait();
    assert.equal(lock.locked(), false);
    await cond.withLock(() => cond.notify());
    assert.equal(await waiting, true);
    cond.release();
    assert.ok(lock.locked());
    cond.release();
    assert.equal(lock.locked(), false);
  });

  test("Condition.notify(n) wakes exactly n waiters, and notifyAll() the rest", async () => {
    const cond = new Condition(new Lock());
    let registered = 0;
    let woken = 0;
    const waiters = Array.from({ length: 5 }, async () => {
      await cond.acquire();
      registered++;
      const notified = await cond.wait();
      woken++;
      cond.release();
      return notified;
    });
    // A waiter counts itself and lets go of the lock in wait() in one go.
    while (await cond.withLock(() => registered) < 5) await delay(1);
    await cond.withLock(() => cond.notify(2));
    await delay(30);
    assert.equal(woken, 2);
    await cond.withLock(() => cond.notify(0));
    await cond.withLock(() => cond.notify());
    await delay(30);
    assert.equal(woken, 3);
    await cond.withLock(() => cond.notifyAll());
    assert.deepEqual(await Promise.all(waiters), [true, true, true, true, true]);
    assert.equal(woken, 5);
  });

  test("Condition.notify() with no waiters does nothing and is not remembered", async () => {
    const cond = new Condition(new Lock());
    await cond.withLock(() => cond.notify(5));
    await cond.acquire();
    assert.equal(await cond.wait(10), false);
    cond.release();
  });

  test("Condition.notify() after a waiter timed out wakes a live waiter", async () => {
    const cond = new Condition(new Lock());
    await cond.acquire();
    const short = cond.wait(10).then((notified) => {
      cond.release();
      return notified;
    });
    await cond.acquire(); // free once the short waiter waits
    const patient = cond.wait().then((notified) => {
      cond.release();
      return notified;
    });
    assert.equal(await short, false);
    await cond.withLock(() => cond.notify(1));
    assert.equal(await patient, true);
  });

  test("Condition.notify() rejects a count that is not a non-negative integer", async () => {
    const cond = new Condition(new Lock());
    await cond.acquire();
    assert.throws(() => cond.notify(-1), RangeError);
    assert.throws(() => cond.notify(1.5), RangeError);
    assert.throws(() => cond.notify("1" as unknown as number), TypeError);
    await assert.rejects(cond.wait(NaN), RangeError);
    cond.release();
  });

  test("Condition.waitFor() returns the predicate's value once true, or its falsy value on timeout", async () => {
    const cond = new Condition(new Lock());
    let value = 0;
    await cond.acquire();
    assert.equal(await cond.waitFor(() => value, 10), 0);
    assert.equal(await cond.waitFor(() => "at once"), "at once");
    const waiting = cond.waitFor(() => value >= 3 && value);
    for (let i = 0; i < 3; i++) {
      await cond.acquire();
      value++;
      cond.notifyAll();
      cond.release();
    }
    assert.equal(await waiting, 3);
    cond.release();
    await assert.rejects(cond.waitFor(() => true), /lock is not held/);
  });

  test("Condition.wait() in the main thread is woken by notify() in a worker", long, async () => {
    await withThreads(1, async ([a]) => {
      const cond = new Condition();
      await cond.acquire();
      const waiting = cond.wait();
      const notified = await a.run(async (cond: Condition) => {
        await cond.acquire();
        cond.notify();
        cond.release();
        return true;
      }, [cond]);
      assert.equal(notified, true);
      assert.equal(await waiting, true);
      cond.release();
    });
  });

  test("Condition.notify(n) wakes exactly n waiters across workers", long, async () => {
    await withThreads(3, async (threads) => {
      const cond = new Condition(); // the default RLock, owned per worker
      const woken = new Semaphore(0);
      const count = new Int32Array(new SharedArrayBuffer(4));
      const runs = threads.map((t) =>
        t.run(async (cond: Condition, woken: Semaphore, count: Int32Array) => {
          await cond.acquire();
          Atomics.add(count, 0, 1);
          const notified = await cond.wait();
          Atomics.sub(count, 0, 1);
          cond.release();
          woken.release();
          return notified;
        }, [cond, woken, count])
      );
      // Each worker holds the lock from before it counts itself until wait() lets it go.
      for (;;) {
        await cond.acquire();
        const waiting = Atomics.load(count, 0);
        cond.release();
        if (waiting === 3) break;
        await delay(1);
      }
      await cond.withLock(() => cond.notify(2));
      assert.equal(await woken.acquire({ timeout: 30_000 }), true);
      assert.equal(await woken.acquire({ timeout: 30_000 }), true);
      assert.equal(await woken.acquire({ timeout: 50 }), false); // no third one
      assert.equal(Atomics.load(count, 0), 1);
      await cond.withLock(() => cond.notifyAll());
      assert.deepEqual(await Promise.all(runs), [true, true, true]);
    });
  });

  test(
    "Condition.notify() after a worker's wait timed out wakes a live waiter in another",
    long,
    async () => {
      await withThreads(2, async ([a, b]) => {
        const cond = new Condition(new Lock());
        const ready = new Event();
        const patient = b.run(async (cond: Condition, ready: Event) => {
          await cond.acquire();
          ready.set();
          const notified = await cond.wait();
          cond.release();
          return notified;
        }, [cond, ready]);
        await ready.wait();
        const timedOut = await a.run(async (cond: Condition) => {
          await cond.acquire();
          const notified = await cond.wait(10);
          cond.release();
          return notified;
        }, [cond]);
        assert.equal(timedOut, false);
        await cond.withLock(() => cond.notify(1));
        assert.equal(await patient, true);
      });
    },
  );

  test(
    "Condition.waitFor() in workers sees state a notifier changed under the lock",
    long,
    async () => {
      await withThreads(2, async (threads) => {
        const cond = new Condition();
        const box = new Int32Array(new SharedArrayBuffer(4));
        const runs = threads.map((t) =>
          t.run(async (cond: Condition, box: Int32Array) => {
            await cond.acquire();
            const seen = await cond.waitFor(() => box[0] >= 3 && box[0]);
            cond.release();
            return seen;
          }, [cond, box])
        );
        for (let i = 0; i < 3; i++) {
          await delay(5);
          await cond.withLock(() => {
            box[0]++;
            cond.notifyAll();
          });
        }
        assert.deepEqual(await Promise.all(runs), [3, 3]);
      });
    },
  );

  test("Condition travels to a worker with its lock", long, async () => {
    await withThreads(1, async ([a]) => {
      const lock = new Lock();
      const cond = new Condition(lock);
      await lock.acquire();
      assert.equal(await a.run((cond: Condition) => cond.acquire({ block: false }), [cond]), false);
      lock.release();
      const record = encodeShared(cond) as { state: { lock: unknown } };
      assert.equal(typeof record.state.lock, "object");
      assert.notEqual(record.state.lock, lock);
    });
  });
});

describe("Event", () => {
  test("Event.wait(timeout) returns false after the timeout while the flag is lowered", async () => {
    const event = new Event();
    assert.equal(event.isSet(), false);
    const [set, ms] = await timed(event.wait(10));
    assert.equal(set, false);
    assert.ok(ms >= 5 && ms < 5_000, `took ${ms} ms`);
    assert.equal(await event.wait(0), false);
  });

  test("Event.set() wakes every waiting task, and wait() returns at once until clear()", async () => {
    const event = new Event();
    const waiters = [event.wait(), event.wait(), event.wait(30_000)];
    assert.ok(await pending(waiters[0]));
    event.set();
    assert.deepEqual(await Promise.all(waiters), [true, true, true]);
    assert.ok(event.isSet());
    assert.equal(await event.wait(), true);
    assert.equal(await event.wait(0), true);
    event.clear();
    assert.equal(event.isSet(), false);
    assert.equal(await event.wait(0), false);
  });

  test("Event.wait() returns true when set() and clear() both happen while it waits", async () => {
    const event = new Event();
    const waiting = event.wait();
    event.set();
    event.clear();
    assert.equal(await waiting, true);
    assert.equal(event.isSet(), false);
  });

  test("Event.wait() rejects a timeout of the wrong type or range", async () => {
    await assert.rejects(new Event().wait(NaN), RangeError);
    await assert.rejects(new Event().wait("1" as unknown as number), TypeError);
  });

  test(
    "Event.set() in a worker wakes waiters in the main thread and in other workers",
    long,
    async () => {
      await withThreads(3, async ([a, b, c]) => {
        const event = new Event();
        const waiting = [
          event.wait(),
          a.run((e: Event) => e.wait(), [event]),
          b.run((e: Event) => e.wait(30_000), [event]),
        ];
        assert.ok(await pending(waiting[1]));
        assert.equal(await a.run((e: Event) => e.wait(10), [event]), false);
        await c.run((e: Event) => e.set(), [event]);
        assert.deepEqual(await Promise.all(waiting), [true, true, true]);
        assert.equal(await b.run((e: Event) => e.isSet(), [event]), true);
        event.clear();
        assert.equal(await c.run((e: Event) => e.isSet(), [event]), false);
      });
    },
  );
});

describe("Barrier", () => {
  test("Barrier() checks its arguments up front", () => {
    assert.throws(() => new Barrier(0), {
      name: "RangeError",
      message: "Cannot create a barrier as 'parties' must be a positive integer: received 0",
    });
    assert.throws(() => new Barrier("2" as unknown as number), TypeError);
    assert.throws(() => new Barrier(2, 5 as unknown as () => void), TypeError);
    assert.throws(() => new Barrier(2, undefined, NaN), RangeError);
  });

  test("Barrier.wait() gives each party a distinct index in every pass, for many passes", async () => {
    const barrier = new Barrier(3);
    assert.equal(barrier.parties, 3);
    for (let pass = 0; pass < 5; pass++) {
      const indices = await Promise.all([barrier.wait(), barrier.wait(), barrier.wait()]);
      assert.deepEqual(indices.sort(), [0, 1, 2]);
    }
    assert.equal(barrier.nWaiting, 0);
    assert.equal(barrier.broken, false);
  });

  test("Barrier(1).wait() returns 0 at once, every time", async () => {
    let runs = 0;
    const barrier = new Barrier(1, () => {
      runs++;
    });
    for (let i = 0; i < 3; i++) assert.equal(await barrier.wait(), 0);
    assert.equal(runs, 3);
  });

  test("Barrier.nWaiting counts the parties that wait", async () => {
    const barrier = new Barrier(3);
    const first = barrier.wait();
    assert.equal(barrier.nWaiting, 1);
    const second = barrier.wait();
    assert.equal(barrier.nWaiting, 2);
    await barrier.wait();
    await Promise.all([first, second]);
    assert.equal(barrier.nWaiting, 0);
  });

  test("Barrier's action runs once per pass, before any party goes on", async () => {
    let runs = 0;
    const barrier = new Barrier(4, async () => {
      await delay(1);
      runs++;
    });
    for (let pass = 1; pass <= 3; pass++) {
      const seen = await Promise.all(
        Array.from({ length: 4 }, () => barrier.wait().then(() => runs)),
      );
      assert.deepEqual(seen, [pass, pass, pass, pass]);
    }
  });

  test("Barrier parties that run pass after pass without waiting for each other stay in step", async () => {
    const barrier = new Barrier(3);
    const log: number[][] = [[], [], []];
    await Promise.all([0, 1, 2].map(async (party) => {
      for (let pass = 0; pass < 20; pass++) {
        log[party].push(pass);
        await barrier.wait();
        // Nobody may be two passes ahead of anybody.
        const lengths = log.map((l) => l.length);
        assert.ok(Math.max(...lengths) - Math.min(...lengths) <= 1);
      }
    }));
  });

  test("Barrier's action that throws breaks the barrier", async () => {
    const barrier = new Barrier(3, () => {
      throw new Error("action failed");
    });
    const results = await Promise.allSettled([barrier.wait(), barrier.wait(), barrier.wait()]);
    const reasons = results.map((r) => (r as PromiseRejectedResult).reason);
    assert.equal(reasons.filter((e) => e?.message === "action failed").length, 1);
    assert.equal(reasons.filter((e) => e instanceof BrokenBarrierError).length, 2);
    assert.ok(barrier.broken);
  });

  test("Barrier.abort() breaks it for every waiter and later ones, until reset()", async () => {
    const barrier = new Barrier(3);
    const waiting = [barrier.wait(), barrier.wait()];
    barrier.abort();
    for (const w of waiting) await assert.rejects(w, BrokenBarrierError);
    assert.ok(barrier.broken);
    await assert.rejects(barrier.wait(), (error: unknown) => {
      assert.ok(error instanceof BrokenBarrierError);
      assert.ok(error instanceof ProcessError);
      assert.match(error.message, /call reset\(\) to use it again/);
      return true;
    });
    barrier.reset();
    assert.equal(barrier.broken, false);
    assert.deepEqual((await Promise.all([barrier.wait(), barrier.wait(), barrier.wait()])).sort(), [
      0,
      1,
      2,
    ]);
  });

  test("Barrier.reset() breaks the current waiters and leaves the barrier usable", async () => {
    const barrier = new Barrier(3);
    const waiting = [barrier.wait(), barrier.wait()];
    assert.equal(barrier.nWaiting, 2);
    barrier.reset();
    for (const w of waiting) await assert.rejects(w, BrokenBarrierError);
    assert.equal(barrier.broken, false);
    assert.equal(barrier.nWaiting, 0);
    assert.deepEqual((await Promise.all([barrier.wait(), barrier.wait(), barrier.wait()])).sort(), [
      0,
      1,
      2,
    ]);
  });

  test("Barrier.wait(timeout) breaks the barrier for every waiter when it runs out", async () => {
    const barrier = new Barrier(3);
    const patient = barrier.wait();
    const [error, ms] = await timed(barrier.wait(10).catch((e) => e));
    assert.ok(error instanceof BrokenBarrierError);
    assert.ok(ms >= 5 && ms < 5_000, `took ${ms} ms`);
    await assert.rejects(patient, BrokenBarrierError);
    assert.ok(barrier.broken);
  });

  test("Barrier.reset() after a wait(timeout) broke it lets n parties pass with indices 0..n-1", async () => {
    const barrier = new Barrier(3);
    const patient = barrier.wait();
    await assert.rejects(barrier.wait(10), BrokenBarrierError);
    await assert.rejects(patient, BrokenBarrierError);
    assert.ok(barrier.broken);
    barrier.reset();
    assert.equal(barrier.broken, false);
    assert.equal(barrier.nWaiting, 0);
    for (let pass = 0; pass < 2; pass++) {
      const indices = await Promise.all([barrier.wait(), barrier.wait(), barrier.wait(10_000)]);
      assert.deepEqual(indices.sort(), [0, 1, 2]);
    }
    assert.equal(barrier.broken, false);
  });

  test("Barrier's timeout argument is the default timeout of wait()", async () => {
    const barrier = new Barrier(2, undefined, 10);
    await assert.rejects(barrier.wait(), BrokenBarrierError);
    assert.ok(barrier.broken);
  });

  test(
    "Barrier synchronises parties across workers, running its action once per pass",
    long,
    async () => {
      await withThreads(3, async (threads) => {
        const passes = new Int32Array(new SharedArrayBuffer(4));
        const g = globalThis as { __syncTestPasses?: Int32Array };
        g.__syncTestPasses = passes;
        // Self-contained, so that it travels as source: it finds the counter through a global
        // every party sets.
        const barrier = new Barrier(4, () => {
          Atomics.add((globalThis as { __syncTestPasses?: Int32Array }).__syncTestPasses!, 0, 1);
        });
        const party = async (barrier: Barrier, passes: Int32Array) => {
          (globalThis as { __syncTestPasses?: Int32Array }).__syncTestPasses = passes;
          const out: [number, number][] = [];
          for (let pass = 0; pass < 5; pass++) {
            const index = await barrier.wait();
            out.push([index, Atomics.load(passes, 0)]);
          }
          return out;
        };
        try {
          const results = await Promise.all([
            ...threads.map((t) => t.run(party, [barrier, passes])),
            party(barrier, passes),
          ]);
          for (let pass = 0; pass < 5; pass++) {
            const indices = results.map((r) => r[pass][0]).sort();
            assert.deepEqual(indices, [0, 1, 2, 3]);
            for (const r of results) assert.equal(r[pass][1], pass + 1);
          }
          assert.equal(Atomics.load(passes, 0), 5);
        } finally {
          delete g.__syncTestPasses;
        }
      });
    },
  );

  test(
    "Barrier takes a fromModule() action to the workers and runs it once per pass",
    long,
    async () => {
      await withThreads(2, async (threads) => {
        const passes = new Int32Array(new SharedArrayBuffer(4));
        const g = globalThis as { __syncTestPasses?: Int32Array };
        g.__syncTestPasses = passes;
        const barrier = new Barrier(3, fromModule(fixture, "countPass"));
        const party = async (barrier: Barrier, passes: Int32Array) => {
          (globalThis as { __syncTestPasses?: Int32Array }).__syncTestPasses = passes;
          const seen: number[] = [];
          for (let pass = 0; pass < 50; pass++) {
            await barrier.wait();
            seen.push(Atomics.load(passes, 0));
          }
          return seen;
        };
        try {
          const results = await Promise.all([
            ...threads.map((t) => t.run(party, [barrier, passes])),
            party(barrier, passes),
          ]);
          const expected = Array.from({ length: 50 }, (_, i) => i + 1);
          for (const seen of results) assert.deepEqual(seen, expected);
        } finally {
          delete g.__syncTestPasses;
        }
      });
    },
  );

  test(
    "Barrier.abort() in a worker breaks the waits of the main thread and other workers",
    long,
    async () => {
      await withThreads(2, async ([a, b]) => {
        const barrier = new Barrier(4);
        // Caught at once: they fail while the test awaits something else.
        const waiting = [
          barrier.wait(),
          a.run((barrier: Barrier) => barrier.wait(), [barrier]),
        ].map((p) => p.catch((error) => error));
        while (barrier.nWaiting < 2) await delay(1);
        await b.run((barrier: Barrier) => barrier.abort(), [barrier]);
        for (const error of await Promise.all(waiting)) {
          assert.equal(error?.name, "BrokenBarrierError");
        }
        assert.equal(await a.run((barrier: Barrier) => barrier.broken, [barrier]), true);
      });
    },
  );

  test(
    "Barrier.wait(timeout) that runs out in a worker breaks the barrier for all",
    long,
    async () => {
      await withThreads(1, async ([a]) => {
        const barrier = new Barrier(3);
        const patient = barrier.wait().catch((error) => error);
        await assert.rejects(a.run((barrier: Barrier) => barrier.wait(10), [barrier]), {
          name: "BrokenBarrierError",
        });
        assert.ok(await patient instanceof BrokenBarrierError);
      });
    },
  );
});

describe("waiting keeps the program alive", () => {
  for (const scenario of ["lock", "event", "condition", "semaphore"]) {
    test(`a ${scenario} wait keeps a program running until it is woken`, long, async () => {
      const { code, stdout, stderr } = await runChild(fixture, [scenario]);
      assert.equal(code, 0, stderr);
      assert.match(stdout, /^(acquired|set|notified) true$/m);
    });
  }
});

// ---- Primitives passed to the library's own Process and Pool ---------------------------------

/** A primitive as a task receives it: itself, or nested inside an array and an object. */
type Nest<T> = T | [{ inner: [T] }];
const shapes = [<T>(x: T): Nest<T> => x, <T>(x: T): Nest<T> => [{ inner: [x] }]] as const;

type Primitives = [Lock, RLock, Semaphore, BoundedSemaphore, Condition, Event, Barrier];
interface NestedPrimitives {
  locks: [Lock, RLock];
  semaphores: [Semaphore, BoundedSemaphore];
  more: [{ cond: Condition; event: Event }, [Barrier]];
}

/**
 * A Process target that acts once on each primitive, given either as separate arguments or
 * nested in one object of arrays and objects. It travels as source: it uses nothing outside.
 * `out` gets [1 if the bounded semaphore refused an over-release, its Barrier index, 1 at the end].
 */
async function actOnEach(
  ...args: [...Primitives, Int32Array] | [NestedPrimitives, Int32Array]
): Promise<void> {
  const out = args[args.length - 1] as Int32Array;
  let lock: Lock, rlock: RLock, sem: Semaphore, bsem: BoundedSemaphore;
  let cond: Condition, event: Event, barrier: Barrier;
  if (args.length === 2) {
    const { locks, semaphores, more } = args[0];
    [lock, rlock] = locks;
    [sem, bsem] = semaphores;
    [{ cond, event }, [barrier]] = more;
  } else {
    [lock, rlock, sem, bsem, cond, event, barrier] = args as unknown as Primitives;
  }
  await lock.acquire();
  await rlock.acquire();
  await rlock.acquire();
  sem.release();
  bsem.release();
  try {
    bsem.release();
  } catch (error) {
    if ((error as Error).name === "RangeError") Atomics.store(out, 0, 1);
  }
  event.set();
  await cond.acquire(); // free once the caller waits on it
  cond.notify();
  cond.release();
  Atomics.store(out, 1, await barrier.wait(10_000));
  await barrier.wait(10_000); // the caller has looked at the locks
  rlock.release();
  rlock.release();
  Atomics.store(out, 2, 1);
}

const entries = [["mod.ts", mp], ["dummy.ts", dummy]] as const;

for (const [label, m] of entries) {
  describe(`primitives in Process and Pool (${label})`, () => {
    test(
      "Pool tasks act on every primitive passed to them, directly or nested in arrays and objects",
      long,
      async () => {
        await using pool = new m.Pool(2);
        // First: the two tasks are new to the pool, so each goes to a worker of its own.
        const barrier = new Barrier(3);
        const indices = await Promise.all([
          barrier.wait(10_000),
          ...shapes.map((shape) =>
            pool.apply(
              (x: Nest<Barrier>) => (Array.isArray(x) ? x[0].inner[0] : x).wait(10_000),
              [shape(barrier)],
            )
          ),
        ]);
        assert.deepEqual(indices.sort(), [0, 1, 2]);

        for (const shape of shapes) {
          const lock = new Lock();
          const took = await pool.apply(
            (x: Nest<Lock>) => (Array.isArray(x) ? x[0].inner[0] : x).acquire({ block: false }),
            [shape(lock)],
          );
          assert.equal(took, true);
          assert.ok(lock.locked());
          assert.equal(await lock.acquire({ block: false }), false);
          lock.release();

          const rlock = new RLock();
          const held = new Event();
          const done = new Event();
          const owner = pool.apply(async (x: Nest<RLock>, held: Event, done: Event) => {
            const rlock = Array.isArray(x) ? x[0].inner[0] : x;
            await rlock.acquire();
            await rlock.acquire();
            held.set();
            await done.wait(10_000);
            rlock.release();
            rlock.release();
            return rlock.locked();
          }, [shape(rlock), held, done]);
          assert.equal(await held.wait(10_000), true);
          assert.ok(rlock.locked());
          assert.equal(await rlock.acquire({ block: false }), false);
          assert.throws(() => rlock.release(), /another thread holds/);
          done.set();
          assert.equal(await owner, false);
          assert.equal(await rlock.acquire({ block: false }), true);
          rlock.release();

          const sem = new Semaphore(0);
          const acquiring = sem.acquire({ timeout: 10_000 });
          await pool.apply((x: Nest<Semaphore>) => {
            (Array.isArray(x) ? x[0].inner[0] : x).release();
          }, [shape(sem)]);
          assert.equal(await acquiring, true);
          assert.equal(sem.getValue(), 0);

          const bsem = new BoundedSemaphore(1);
          await bsem.acquire();
          const refused = await pool.apply((x: Nest<BoundedSemaphore>) => {
            const bsem = Array.isArray(x) ? x[0].inner[0] : x;
            bsem.release();
            try {
              bsem.release();
              return "no error";
            } catch (error) {
              return `${(error as Error).name} ${bsem.getValue()}`;
            }
          }, [shape(bsem)]);
          assert.equal(refused, "RangeError 1");
          assert.equal(bsem.getValue(), 1);

          const cond = new Condition();
          await cond.acquire();
          const notified = cond.wait(10_000);
          await pool.apply(async (x: Nest<Condition>) => {
            const cond = Array.isArray(x) ? x[0].inner[0] : x;
            await cond.acquire(); // free once the main thread waits
            cond.notify();
            cond.release();
          }, [shape(cond)]);
          assert.equal(await notified, true);
          cond.release();

          const event = new Event();
          const set = event.wait(10_000);
          await pool.apply((x: Nest<Event>) => {
            (Array.isArray(x) ? x[0].inner[0] : x).set();
          }, [shape(event)]);
          assert.equal(await set, true);
        }
      },
    );

    test(
      "a Process target acts on every primitive passed to it, directly or nested in arrays and objects",
      long,
      async () => {
        // The two processes run at once, each on primitives of its own.
        await Promise.all([false, true].map(async (nested) => {
          const lock = new Lock();
          const rlock = new RLock();
          const sem = new Semaphore(0);
          const bsem = new BoundedSemaphore(1);
          const cond = new Condition();
          const event = new Event();
          const barrier = new Barrier(2);
          const out = new Int32Array(new SharedArrayBuffer(12));
          await bsem.acquire();
          await cond.acquire();
          const p = new m.Process({
            target: actOnEach,
            args: nested
              ? [{
                locks: [lock, rlock],
                semaphores: [sem, bsem],
                more: [{ cond, event }, [barrier]],
              }, out]
              : [lock, rlock, sem, bsem, cond, event, barrier, out],
          });
          p.start();
          const notified = cond.wait(10_000);
          const acquired = sem.acquire({ timeout: 10_000 });
          const set = event.wait(10_000);
          const index = await barrier.wait(10_000);
          assert.equal(await notified, true);
          cond.release();
          assert.equal(await acquired, true);
          assert.equal(await set, true);
          assert.equal(bsem.getValue(), 1);
          assert.ok(lock.locked());
          assert.equal(await lock.acquire({ block: false }), false);
          assert.equal(await rlock.acquire({ block: false }), false);
          assert.throws(() => rlock.release(), /another thread holds/);
          await barrier.wait(10_000);
          await p.join();
          assert.equal(p.exitcode, 0);
          assert.deepEqual([...out], [1, 1 - index, 1]);
          assert.equal(rlock.locked(), false);
          assert.equal(await rlock.acquire({ block: false }), true);
          rlock.release();
          lock.release();
        }));
      },
    );
  });
}

describe("primitives in Process and Pool (dummy.ts): processes on one thread", () => {
  test("RLock.acquire({ block: false }) in a dummy.ts Process is false until the owning one released every level", async () => {
    const lock = new RLock();
    const [owns, step, stepped, end, ended] = Array.from({ length: 5 }, () => new Event());
    const seen: boolean[] = [];
    const owner = new dummy.Process({
      target: async () => {
        await lock.acquire();
        await lock.acquire();
        owns.set();
        await step.wait();
        lock.release();
        stepped.set();
        await end.wait();
        lock.release();
        ended.set();
      },
    });
    const other = new dummy.Process({
      target: async () => {
        await owns.wait();
        seen.push(await lock.acquire({ block: false }), await lock.acquire({ timeout: 10 }));
        step.set();
        await stepped.wait();
        seen.push(await lock.acquire({ block: false }));
        end.set();
        await ended.wait();
        seen.push(await lock.acquire({ block: false }));
        lock.release();
      },
    });
    for (const p of [owner, other]) p.start();
    for (const p of [owner, other]) await p.join();
    assert.deepEqual([owner.exitcode, other.exitcode], [0, 0]);
    assert.deepEqual(seen, [false, false, false, true]);
    assert.equal(lock.locked(), false);
  });
});

describe("primitives in Process and Pool (mod.ts): from worker to worker", () => {
  test(
    "RLock owned twice by one Pool worker cannot be released or taken by the other",
    long,
    async () => {
      await using pool = new mp.Pool(2);
      const lock = new RLock();
      const held = new Event();
      const done = new Event();
      const owner = pool.apply(async (lock: RLock, held: Event, done: Event) => {
        await lock.acquire();
        await lock.acquire();
        held.set();
        await done.wait(10_000);
        lock.release();
        const still = lock.locked();
        lock.release();
        return [still, lock.locked()];
      }, [lock, held, done]);
      assert.equal(await held.wait(10_000), true);
      // The owner's task is still running, so this one runs in the other worker.
      const other = await pool.apply(async (lock: RLock) => {
        let error = "no error";
        try {
          lock.release();
        } catch (e) {
          error = (e as Error).message;
        }
        return [error, await lock.acquire({ block: false }), lock.locked()];
      }, [lock]);
      assert.match(other[0] as string, /another thread holds/);
      assert.deepEqual(other.slice(1), [false, true]);
      done.set();
      assert.deepEqual(await owner, [true, false]);
      assert.equal(await lock.acquire({ block: false }), true);
      lock.release();
    },
  );

  test(
    "Condition.notify(1) in a Pool worker wakes exactly one of the waiters in another worker and the main thread",
    long,
    async () => {
      await using pool = new mp.Pool(2);
      const cond = new Condition();
      const counts = new Int32Array(new SharedArrayBuffer(8)); // [waiting, woken]
      const waiter = async (cond: Condition, counts: Int32Array) => {
        await cond.acquire();
        Atomics.add(counts, 0, 1); // and wait() lets go of the lock in one go
        const notified = await cond.wait(10_000);
        Atomics.add(counts, 1, 1);
        cond.release();
        return notified;
      };
      const waiting = [pool.apply(waiter, [cond, counts]), waiter(cond, counts)];
      // The waiter's task is still running, so this one runs in the other worker.
      await pool.apply(async (cond: Condition, counts: Int32Array) => {
        for (;;) {
          await cond.acquire();
          if (Atomics.load(counts, 0) === 2) break;
          cond.release();
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
        cond.notify(1);
        cond.release();
      }, [cond, counts]);
      while (Atomics.load(counts, 1) === 0) await delay(1);
      await delay(50);
      assert.equal(Atomics.load(counts, 1), 1);
      await cond.withLock(() => cond.notifyAll());
      assert.deepEqual(await Promise.all(waiting), [true, true]);
    },
  );

  test(
    "BoundedSemaphore(1) contended by two Pool workers admits one at a time and refuses an over-release in each",
    long,
    async () => {
      await using pool = new mp.Pool(2);
      const semaphore = new BoundedSemaphore(1);
      const together = new Barrier(2);
      const stats = new Int32Array(new SharedArrayBuffer(8)); // [inside now, most inside]
      const work = async (semaphore: BoundedSemaphore, together: Barrier, stats: Int32Array) => {
        await together.wait(10_000); // both workers run this task at once
        for (let i = 0; i < 100; i++) {
          await semaphore.acquire();
          const inside = Atomics.add(stats, 0, 1) + 1;
          if (inside > Atomics.load(stats, 1)) Atomics.store(stats, 1, inside);
          if (i % 10 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
          Atomics.sub(stats, 0, 1);
          semaphore.release();
        }
        await together.wait(10_000); // both are done: the value is 1 again
        try {
          semaphore.release();
          return "no error";
        } catch (error) {
          return (error as Error).name;
        }
      };
      const refused = await Promise.all(
        [0, 1].map(() => pool.apply(work, [semaphore, together, stats])),
      );
      assert.deepEqual(refused, ["RangeError", "RangeError"]);
      assert.equal(stats[1], 1);
      assert.equal(semaphore.getValue(), 1);
    },
  );

  test(
    "Barrier.reset() in a Pool worker breaks the waits of the main thread and another worker; after it, and after a timeout broke it, passes give indices 0..n-1",
    long,
    async () => {
      await using pool = new mp.Pool(2);
      const barrier = new Barrier(3);
      const party = (barrier: Barrier) => barrier.wait();
      // Caught at once: they fail while the test awaits something else. No timeout, so that
      // only reset() can break them.
      const waiting = [barrier.wait(), pool.apply(party, [barrier])].map((p) => p.catch((e) => e));
      while (barrier.nWaiting < 2) await delay(1);
      // The waiting task is still running, so this one runs in the other worker.
      await pool.apply((barrier: Barrier) => barrier.reset(), [barrier]);
      for (const error of await Promise.all(waiting)) {
        assert.equal(error?.name, "BrokenBarrierError");
      }
      assert.equal(barrier.broken, false);
      const indices = await Promise.all([
        barrier.wait(10_000),
        pool.apply(party, [barrier]),
        pool.apply(party, [barrier]),
      ]);
      assert.deepEqual(indices.sort(), [0, 1, 2]);

      // A worker's wait(timeout) breaks it for the main thread; reset() makes it whole again.
      const patient = barrier.wait().catch((e) => e);
      await assert.rejects(pool.apply((barrier: Barrier) => barrier.wait(10), [barrier]), {
        name: "BrokenBarrierError",
      });
      assert.ok(await patient instanceof BrokenBarrierError);
      assert.ok(barrier.broken);
      barrier.reset();
      const again = await Promise.all([
        barrier.wait(10_000),
        pool.apply(party, [barrier]),
        pool.apply(party, [barrier]),
      ]);
      assert.deepEqual(again.sort(), [0, 1, 2]);
    },
  );

  test(
    "Semaphore and BoundedSemaphore stay consistent after an acquire() timed out in a Pool worker",
    long,
    async () => {
      await using pool = new mp.Pool(2);
      const bounded = new BoundedSemaphore(1);
      await bounded.acquire();
      for (const semaphore of [new Semaphore(0), bounded]) {
        assert.equal(
          await pool.apply((s: Semaphore) => s.acquire({ timeout: 10 }), [semaphore]),
          false,
        );
        assert.equal(semaphore.getValue(), 0);
        semaphore.release();
        assert.equal(semaphore.getValue(), 1); // not given to the waiter that timed out
        assert.equal(await semaphore.acquire({ block: false }), true);
        // A worker's waiter that times out, with a live waiter in the other worker.
        const started = new Event();
        const ghost = pool.apply(async (s: Semaphore, started: Event) => {
          started.set();
          return await s.acquire({ timeout: 50 });
        }, [semaphore, started]);
        await started.wait(10_000);
        // The ghost's task is still running, so this one runs in the other worker.
        const live = pool.apply((s: Semaphore) => s.acquire({ timeout: 10_000 }), [semaphore]);
        assert.equal(await ghost, false);
        assert.equal(semaphore.getValue(), 0);
        semaphore.release();
        assert.equal(await live, true);
        assert.equal(semaphore.getValue(), 0);
        semaphore.release();
        assert.equal(
          await pool.apply((s: Semaphore) => s.acquire({ block: false }), [semaphore]),
          true,
        );
        assert.equal(semaphore.getValue(), 0);
      }
      bounded.release();
      assert.throws(() => bounded.release(), RangeError);
    },
  );
});
