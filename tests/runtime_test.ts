import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { entryModule, runtime, type WorkerHandle } from "../lib/runtime/mod.ts";
import { checkNodeVersion } from "../lib/_version.ts";
import { runChild } from "./_child.ts";
import { within } from "./_within.ts";

const echo = new URL("./fixtures/echo_worker.ts", import.meta.url);

function start(data: unknown = { hello: 1 }): WorkerHandle {
  return runtime().spawn(echo, { name: "echo", data });
}

function nextMessage(worker: WorkerHandle): Promise<unknown> {
  return new Promise((resolve) => worker.onMessage(resolve));
}

function exited(worker: WorkerHandle): Promise<[number, unknown]> {
  return new Promise((resolve) => worker.onExit((code, error) => resolve([code, error])));
}

describe("runtime adapter", () => {
  test("runtime() detects the runtime it runs on", () => {
    const g = globalThis as Record<string, unknown>;
    const expected = "Deno" in g ? "deno" : "Bun" in g ? "bun" : "node";
    assert.equal(runtime().name, expected);
    assert.ok(runtime().cpuCount() >= 1);
    assert.ok(Number.isInteger(runtime().osPid()));
    assert.equal(runtime().threadId(), 0);
    assert.equal(runtime().hostPort(), null);
    assert.equal(runtime().workerData(), undefined);
  });

  test("spawn() starts a .ts module that receives and posts messages", async () => {
    const worker = start({ tag: "data" });
    try {
      const reply = nextMessage(worker);
      worker.post({ echo: { nested: [1, "two", new Map([[3, 4]])] } });
      assert.deepEqual(await reply, { nested: [1, "two", new Map([[3, 4]])] });
      const who = nextMessage(worker);
      worker.post({ whoami: true });
      const seen = await who as { threadId: number; data: unknown };
      assert.equal(seen.threadId, worker.id);
      assert.deepEqual(seen.data, { tag: "data" });
    } finally {
      await worker.terminate();
    }
  });

  test("workers have distinct ids", async () => {
    const workers = [start(), start(), start()];
    try {
      assert.equal(new Set(workers.map((w) => w.id)).size, 3);
    } finally {
      await Promise.all(workers.map((w) => w.terminate()));
    }
  });

  test("onExit() reports an explicit exit code", async () => {
    const worker = start();
    const done = exited(worker);
    worker.post({ exit: 7 });
    const [code] = await done;
    assert.equal(code, 7);
  });

  test("onExit() reports an uncaught error with its exit code", async () => {
    const worker = start();
    const done = exited(worker);
    worker.post({ throw: "worker blew up" });
    const [code, error] = await done;
    assert.equal(code, 1);
    assert.ok(error instanceof Error);
    assert.match(error.message, /worker blew up/);
  });

  test("terminate() ends the worker and onExit() fires", async () => {
    const worker = start();
    const done = exited(worker);
    await worker.terminate();
    const [code] = await done;
    assert.equal(typeof code, "number");
  });

  test("onExit() added after terminate() was called still fires", async () => {
    // Deno emits "exit" within terminate(): a listener added after the call was never called.
    const worker = start();
    const up = nextMessage(worker);
    worker.post({ echo: "up" });
    await up;
    const terminated = worker.terminate();
    const [code] = await within(exited(worker), 10_000, "the exit of a terminated worker");
    assert.equal(typeof code, "number");
    await terminated;
  });

  test("onExit() added after the worker ended fires with its exit code", async () => {
    const worker = start();
    const ended = exited(worker);
    worker.post({ exit: 7 });
    await ended;
    const [code] = await within(exited(worker), 10_000, "the exit of a worker that had ended");
    assert.equal(code, 7);
  });

  test("post() throws at once for a value that cannot be cloned", async () => {
    const worker = start();
    try {
      assert.throws(() => worker.post({ echo: () => 1 }));
      const reply = nextMessage(worker);
      worker.post({ echo: "still fine" });
      assert.equal(await reply, "still fine");
    } finally {
      await worker.terminate();
    }
  });

  test("handOver() gives a waiting worker its message, which it reads at once", async () => {
    const url = new URL("./fixtures/handover_worker.ts", import.meta.url);
    const worker = runtime().spawn(url, {
      name: "handover",
      data: { tag: "data" },
      handover: true,
    });
    try {
      const messages: unknown[] = [];
      let arrived = () => {};
      worker.onMessage((m) => {
        messages.push(m);
        arrived();
      });
      const next = async () => {
        while (messages.length === 0) await new Promise<void>((r) => (arrived = r));
        return messages.shift();
      };
      // The worker sees the data it was started with, not the handover's wrapping.
      assert.deepEqual(await next(), { ready: true, data: { tag: "data" } });
      // A message that cannot be cloned throws at once and wakes nothing.
      assert.throws(() => worker.handOver({ fn: () => 1 }), { name: "DataCloneError" });
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(messages.length, 0);
      const cells = new Int32Array(new SharedArrayBuffer(8));
      const sent = { map: new Map([[1, "one"]]), cells };
      // Put where the worker reads it, which it does only once woken.
      const handover = worker.handOver(sent);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(messages.length, 0);
      assert.equal(handover.read(), false);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const read = await Promise.race([
        handover.wake().then(() => "read"),
        new Promise((r) => (timer = setTimeout(() => r("not read after 10 s"), 10_000))),
      ]);
      clearTimeout(timer);
      assert.equal(read, "read");
      assert.equal(handover.read(), true);
      // The message handed over, not the rehearsal the worker read before it waited.
      const back = await next() as { message: typeof sent; data: unknown };
      assert.deepEqual(back.message.map, sent.map);
      // The same memory: a SharedArrayBuffer travels shared.
      back.message.cells[0] = 7;
      assert.equal(cells[0], 7);
      assert.deepEqual(back.data, { tag: "data" });
    } finally {
      await worker.terminate();
    }
  });

  test("terminate() ends a worker that waits for a handover", async () => {
    const url = new URL("./fixtures/handover_worker.ts", import.meta.url);
    const worker = runtime().spawn(url, { name: "handover", data: 1, handover: true });
    const ready = nextMessage(worker);
    const done = exited(worker);
    assert.deepEqual(await ready, { ready: true, data: 1 });
    await worker.terminate();
    const [code] = await done;
    assert.equal(typeof code, "number");
  });

  test("handOver() to a worker spawned without a handover posts the message", async () => {
    const worker = start();
    try {
      const reply = nextMessage(worker);
      const handover = worker.handOver({ echo: "as a message" });
      assert.equal(handover.read(), true);
      assert.equal(await reply, "as a message");
      await handover.wake();
    } finally {
      await worker.terminate();
    }
  });

  test("unref() lets a program end while its worker is alive", { timeout: 60_000 }, async () => {
    const program = new URL("./fixtures/unref_program.ts", import.meta.url);
    for (const mode of ["unref", "ref-then-unref"]) {
      const { code, stdout, stderr } = await runChild(program, [mode], 20_000);
      assert.equal(code, 0, `${mode}: ${stderr}`);
      assert.match(stdout, /got ready/);
    }
  });
});

describe("installed forms", () => {
  test("entryModule() keeps the caller's extension: .ts from source, .js once compiled", () => {
    assert.equal(
      entryModule("_worker_main", "file:///p/lib/_worker_executor.ts").href,
      "file:///p/lib/_worker_main.ts",
    );
    assert.equal(
      entryModule("_worker_main", "file:///p/node_modules/x/lib/_worker_executor.js").href,
      "file:///p/node_modules/x/lib/_worker_main.js",
    );
    assert.equal(
      entryModule("_process_main", "https://jsr.io/@mp/multiprocessing/0.1.0/lib/process.ts").href,
      "https://jsr.io/@mp/multiprocessing/0.1.0/lib/_process_main.ts",
    );
  });

  test("a Node older than 20 fails at import, naming the version it needs", () => {
    assert.throws(
      () => checkNodeVersion("18.20.4"),
      /^Error: Cannot load @mp\/multiprocessing on Node 18\.20\.4: it needs Node 20 or later/,
    );
    checkNodeVersion("20.0.0");
    checkNodeVersion("24.21.0");
    checkNodeVersion(undefined);
  });
});
