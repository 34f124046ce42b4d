/**
 * The floors under a manager's proxy calls: how many round trips a second this runtime makes
 * between the main thread and a worker thread with nothing of ours in between, one message
 * each way, each the best of `repeats` runs:
 *
 * - `floor_port_rtt`: a `MessagePort` ping-pong (a channel of `MessageChannel`);
 * - `floor_atomics_rtt`: a `SharedArrayBuffer` ping-pong, both ends waiting with
 *   `Atomics.waitAsync` (as a thread that also serves an event loop must);
 * - `floor_atomics_blocking_rtt`: the same with the worker blocked in `Atomics.wait` (a
 *   thread that does nothing else: the lowest a cross-thread wake costs);
 * - `floor_tcp_rtt`: small frames (a 4-byte length and 32 bytes) over loopback TCP, one in
 *   flight, `setNoDelay` on both ends;
 * - `floor_tcp_pipelined`: the same with {@linkcode IN_FLIGHT} frames in flight.
 *
 * A sequential proxy call can be no faster than its channel's round trip; `bench/managers.ts`
 * prints these beside the calls it measures.
 *
 * ```sh
 * deno run -A bench/floors_managers.ts [--quick]
 * bun bench/floors_managers.ts [--quick]
 * node bench/floors_managers.ts [--quick]
 * ```
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createConnection, createServer, type Socket } from "node:net";
import process from "node:process";
import {
  isMainThread,
  MessageChannel,
  type MessagePort,
  parentPort,
  Worker,
  workerData,
} from "node:worker_threads";
import { collectGarbage, type Figures, runtimeName } from "./_common.ts";

/** How many frames `floor_tcp_pipelined` keeps in flight. */
export const IN_FLIGHT = 16;

/** How long an atomics run may take before it is declared stuck, in milliseconds. */
const STUCK_AFTER = 20_000;

/** The payload of a TCP frame: about a small proxy call's size. */
const PAYLOAD = 32;

interface WorkerTask {
  kind: "port" | "atomics" | "atomics-blocking" | "tcp";
  port?: MessagePort;
  flags?: SharedArrayBuffer;
}

// ---- The worker's side: echo until told to stop -------------------------------------------------

function serveFrames(socket: Socket): void {
  socket.setNoDelay(true);
  let pending: Buffer = Buffer.alloc(0);
  socket.on("data", (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let end = 0;
    while (pending.length - end >= 4) {
      const size = pending.readUInt32BE(end);
      if (pending.length - end - 4 < size) break;
      end += 4 + size;
    }
    // Every whole frame back, in one write.
    if (end > 0) {
      socket.write(pending.subarray(0, end));
      pending = pending.subarray(end);
    }
  });
}

async function workerMain(task: WorkerTask): Promise<void> {
  if (task.kind === "port") {
    const port = task.port!;
    port.on("message", (m: number) => port.postMessage(m));
    return;
  }
  if (task.kind === "tcp") {
    const server = createServer(serveFrames);
    server.listen(0, "127.0.0.1", () => {
      const a = server.address();
      parentPort!.postMessage(typeof a === "object" && a !== null ? a.port : 0);
    });
    return;
  }
  // [0]: the main thread's count, [1]: the worker's answer; -1 in [0] stops.
  const flags = new Int32Array(task.flags!);
  let seen = 0;
  // A pending waitAsync does not keep a worker alive by itself.
  const alive = setInterval(() => {}, 1_000);
  for (;;) {
    if (task.kind === "atomics-blocking") {
      Atomics.wait(flags, 0, seen);
    } else {
      const w = Atomics.waitAsync(flags, 0, seen);
      if (w.async) await w.value;
    }
    const v = Atomics.load(flags, 0);
    if (v === seen) continue;
    if (v === -1) break;
    seen = v;
    Atomics.store(flags, 1, v);
    Atomics.notify(flags, 1);
  }
  clearInterval(alive);
  parentPort!.close();
}

if (!isMainThread && (workerData as { floors?: WorkerTask } | undefined)?.floors !== undefined) {
  void workerMain((workerData as { floors: WorkerTask }).floors);
}

// ---- The main thread's side ---------------------------------------------------------------------

function start(task: WorkerTask, transfer: Transferable[] = []): Worker {
  return new Worker(new URL(import.meta.url), {
    workerData: { floors: task },
    // deno-lint-ignore no-explicit-any
    transferList: transfer as any,
  });
}

async function stop(worker: Worker): Promise<void> {
  await worker.terminate();
}

async function portRtt(n: number): Promise<number> {
  const { port1, port2 } = new MessageChannel();
  const worker = start({ kind: "port", port: port2 }, [port2 as never]);
  let resolve: (v: number) => void = () => {};
  port1.on("message", (m: number) => resolve(m));
  const ping = (i: number) =>
    new Promise<number>((r) => {
      resolve = r;
      port1.postMessage(i);
    });
  for (let i = 0; i < 200; i++) await ping(i);
  const t = performance.now();
  for (let i = 0; i < n; i++) await ping(i);
  const rate = n / ((performance.now() - t) / 1000);
  port1.close();
  await stop(worker);
  return rate;
}

async function atomicsRtt(n: number, blocking: boolean): Promise<number> {
  const flags = new Int32Array(new SharedArrayBuffer(8));
  const worker = start({
    kind: blocking ? "atomics-blocking" : "atomics",
    flags: flags.buffer as SharedArrayBuffer,
  });
  const ping = async (i: number) => {
    Atomics.store(flags, 0, i);
    Atomics.notify(flags, 0);
    while (Atomics.load(flags, 1) !== i) {
      const w = Atomics.waitAsync(flags, 1, i - 1);
      if (w.async) await w.value;
    }
  };
  const run = async () => {
    for (let i = 1; i <= 200; i++) await ping(i);
    const t = performance.now();
    for (let i = 201; i <= 200 + n; i++) await ping(i);
    return n / ((performance.now() - t) / 1000);
  };
  // One timer for the whole run, none per round trip: should a wake from the other thread
  // be lost, the figure is missing rather than the bench hanging.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stuck = new Promise<number>((resolve) => {
    timer = setTimeout(() => resolve(NaN), STUCK_AFTER);
  });
  try {
    return await Promise.race([run(), stuck]);
  } finally {
    clearTimeout(timer);
    Atomics.store(flags, 0, -1);
    Atomics.notify(flags, 0);
    await stop(worker);
  }
}

async function tcpRtt(n: number, inFlight: number): Promise<number> {
  const worker = start({ kind: "tcp" });
  const port = await new Promise<number>((r) => worker.once("message", r));
  const socket = await new Promise<Socket>((resolve, reject) => {
    const s = createConnection({ host: "127.0.0.1", port }, () => resolve(s));
    s.once("error", reject);
  });
  socket.setNoDelay(true);
  const frame = Buffer.alloc(4 + PAYLOAD);
  frame.writeUInt32BE(PAYLOAD, 0);
  let buffered = 0;
  let wake: () => void = () => {};
  socket.on("data", (chunk: Buffer) => {
    buffered += chunk.length;
    wake();
  });
  // Sends `count` frames, `inFlight` at a time, each sent as soon as an answer frees a slot.
  const run = async (count: number) => {
    let sent = 0;
    let answered = 0;
    buffered = 0;
    const size = 4 + PAYLOAD;
    while (sent < Math.min(inFlight, count)) {
      socket.write(frame);
      sent++;
    }
    while (answered < count) {
      await new Promise<void>((r) => (wake = r));
      const whole = Math.floor(buffered / size);
      buffered -= whole * size;
      answered += whole;
      for (let k = 0; k < whole && sent < count; k++) {
        socket.write(frame);
        sent++;
      }
    }
  };
  await run(200);
  const t = performance.now();
  await run(n);
  const rate = n / ((performance.now() - t) / 1000);
  socket.destroy();
  await stop(worker);
  return rate;
}

async function best(repeats: number, run: () => Promise<number>): Promise<number> {
  let rate = NaN;
  for (let i = 0; i < repeats; i++) {
    collectGarbage();
    const r = await run();
    if (Number.isNaN(rate) || r > rate) rate = r;
  }
  return rate;
}

/**
 * Round trips a second between this thread and a worker over each channel (see the module
 * doc), each the best of `repeats` runs of `n` round trips.
 */
export async function measureFloors(
  options: { n: number; repeats: number },
): Promise<Figures> {
  const { n, repeats } = options;
  // A port's listener or a pending waitAsync does not keep every runtime's loop alive (Bun).
  const alive = setInterval(() => {}, 1_000);
  try {
    return {
      floor_port_rtt: await best(repeats, () => portRtt(n)),
      floor_atomics_rtt: await best(repeats, () => atomicsRtt(n, false)),
      floor_atomics_blocking_rtt: await best(repeats, () => atomicsRtt(n, true)),
      floor_tcp_rtt: await best(repeats, () => tcpRtt(n, 1)),
      floor_tcp_pipelined: await best(repeats, () => tcpRtt(n * 4, IN_FLIGHT)),
    };
  } finally {
    clearInterval(alive);
  }
}

if (import.meta.main && isMainThread) {
  const quick = process.argv.includes("--quick");
  const figures = await measureFloors({ n: quick ? 5_000 : 20_000, repeats: quick ? 1 : 5 });
  console.log(`round trips between two threads on ${runtimeName()}${quick ? " (--quick)" : ""}`);
  for (const [name, value] of Object.entries(figures)) {
    const rate = Number.isFinite(value) ? `${(value / 1e3).toFixed(1)}k/s` : "-";
    console.log(`${name.padEnd(28)}${rate.padStart(11)}`);
  }
  process.exit(0);
}
