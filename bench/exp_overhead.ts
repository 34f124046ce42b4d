/**
 * Experiment 6, overhead: 100,000 `applyAsync` calls of a tiny task; `map` over 10⁶ items
 * with the default chunksize; `imap` with chunksize 1 over 100,000 items; and `Pool(2)` from
 * construction to its first result, beside the runtime's bare cost of starting two Workers and
 * the floor of a pool's start: two Workers that each answer a message sent as they are made,
 * and the same after importing the modules a pool's worker imports.
 *
 * Beside each map, its floors on this thread: the bytes its chunks travel as, copied there
 * and back (`memcpy`, into a buffer made beforehand), and the calling thread's least work, that is packing the items into
 * those bytes, cloning them both ways and unpacking the results into a new list of them all,
 * with no Worker (it counts both halves of each clone, of which a pool's calling thread does
 * one). The new list is most of it where fresh memory is dear: on one machine each new page
 * cost 17 us, and a list of 10^6 numbers 20-34 ms.
 *
 * Each map's page faults are counted too (minor faults, every thread of the program, in its
 * fastest sample), and its one-thread floor's, beside the cost of one: a page of fresh memory
 * faulted in and written. Their product over the map's time says how much of it the kernel
 * spent handing the heap fresh memory: a map's results are made in memory the heap has just
 * grown by. So is each map's CPU time, all threads together (the calling thread, the workers,
 * the runtime's own threads, such as its collector's helpers): over the map's time, how many
 * cores it kept busy. At the machine's number of cores, only less work makes it faster.
 *
 * @module
 */
import { Pool, poolWorkerImports, protocol } from "./_lib.ts";
import { type Budget, rate, type Result, type Row, rowOf, time } from "./_harness.ts";
import { bareWorkerStart } from "./js_pools.ts";
import process from "node:process";

/** The minor page faults of every thread of this program so far. */
function faultsSoFar(): number {
  return process.resourceUsage().minorPageFault;
}

/** The CPU time of every thread of this program so far, in milliseconds. */
function cpuSoFar(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/**
 * `fn` made to count its page faults and its CPU time: `faults()` and `cpu()` are those of its
 * fastest call after the first (the first is mitata's warm-up), the sample a row's figure
 * comes from. Both are taken when `fn`'s promise settles, or when it returns if it returns
 * none.
 */
function countingFaults<T>(
  fn: () => T,
): { fn: () => T; faults: () => number | undefined; cpu: () => number | undefined } {
  let calls = 0;
  let best = Infinity;
  let faults: number | undefined;
  let cpu: number | undefined;
  const done = (f0: number, c0: number, t0: number) => {
    const ms = performance.now() - t0;
    const n = faultsSoFar() - f0;
    const c = cpuSoFar() - c0;
    if (calls++ > 0 && ms < best) [best, faults, cpu] = [ms, n, c];
  };
  return {
    fn: () => {
      const f0 = faultsSoFar();
      const c0 = cpuSoFar();
      const t0 = performance.now();
      const out = fn();
      if (!(out instanceof Promise)) {
        done(f0, c0, t0);
        return out;
      }
      return out.then((v) => {
        done(f0, c0, t0);
        return v;
      }) as T;
    },
    faults: () => faults,
    cpu: () => cpu,
  };
}

// A block this large is fresh memory each time it is made: glibc maps a block past 32 MiB on
// its own and unmaps it when it is freed, and its pages fault in as they are first written.
const FRESH_BYTES = 2 ** 26;
const PAGE = 4096;

/** The time a page of fresh memory takes to fault in and be written, per sample. */
function pageFaultCost(samples: number): Row {
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const f0 = faultsSoFar();
    const t0 = performance.now();
    new Uint8Array(FRESH_BYTES).fill(1);
    const ms = performance.now() - t0;
    const faults = faultsSoFar() - f0;
    // An allocator that kept the block's pages since the last sample faulted none in.
    if (faults >= FRESH_BYTES / PAGE / 2) times.push(ms / faults);
  }
  return rowOf("floor: a page of fresh memory faulted in and written", times);
}

/**
 * `Pool(2)` from construction to its first result, as Python's `pool_start` measures it (the
 * clock stops at the result; the pool's `terminate()` runs after it), and the bare start of two
 * Workers, one sample of each in turn, so that both sides meet the same state of the heap and
 * of the machine. Each row's best sample is its figure.
 */
async function poolStart(
  inc: (x: number) => number,
  budget: Budget,
): Promise<[Row, Row, Row, Row, Row]> {
  const samples = budget.quick ? 2 : budget.tier === "default" ? 5 : 10;
  const imports = poolWorkerImports();
  const starts: number[] = [];
  const bares: number[] = [];
  const answers: number[] = [];
  const loads: number[] = [];
  const prepared: number[] = [];
  const firstResult = async () => {
    const t0 = performance.now();
    const pool = new Pool(2);
    await pool.apply(inc, [1]);
    const ms = performance.now() - t0;
    await pool.terminate();
    return ms;
  };
  for (let i = 0; i < samples; i++) {
    // The bare cost: two Workers of a plain .mjs file, which no runtime needs to transform.
    bares.push(await bareWorkerStart({ typescript: false, rounds: 1 }));
    // The pool's least work past it: a message in and an answer out, then also the modules
    // its worker imports first.
    answers.push(await bareWorkerStart({ imports: [], rounds: 1 }));
    loads.push(await bareWorkerStart({ imports, rounds: 1 }));
    starts.push(await firstResult());
    // Workers started ahead of need (Pool.prepare()), which the pool takes.
    await Pool.prepare(2);
    await new Promise((resolve) => setTimeout(resolve, PREPARED_SETTLE_MS));
    prepared.push(await firstResult());
  }
  return [
    rowOf("Pool(2): start to first result", starts),
    rowOf("two bare Workers started", bares),
    rowOf("Pool(2) of prepared workers: start to first result", prepared),
    rowOf("floor: two bare Workers, each answering a message", answers),
    rowOf("floor: the same, importing the pool worker's modules first", loads),
  ];
}

// After its workers have loaded, a prepared pool is timed from an idle program, as a program
// that prepared them at start-up and needs a pool later would be.
const PREPARED_SETTLE_MS = 50;

/** Runs the experiment. */
export async function overhead(budget: Budget): Promise<Result> {
  const { apply: nApply, map: nMap, imap: nImap } = budget.sizes;
  const inc = (x: number) => x + 1;
  const xs = Array.from({ length: nMap }, (_, i) => i);
  // Short strings and small objects, as the same map over them in bench/python/.
  const strings = xs.map((i) => `item-${i}`);
  const objects = xs.map((i) => ({ id: i, tag: "x" }));
  const suffix = (s: string) => s + "!";
  const bump = (o: { id: number; tag: string }) => ({ id: o.id + 1, tag: o.tag });
  const ys = xs.slice(0, nImap);
  const rows = [];
  let faults: (number | undefined)[] = [];
  let cpus: (number | undefined)[] = [];
  const floorFaults: (number | undefined)[] = [];
  {
    await using pool = new Pool(2);
    await pool.map(inc, ys, 1);
    rows.push(
      await time(
        `applyAsync × ${nApply}`,
        async () => {
          const results = [];
          for (let i = 0; i < nApply; i++) results.push(pool.applyAsync(inc, [i]));
          for (const r of results) await r.get();
        },
        budget,
        nApply,
      ),
    );
    const numbersMap = countingFaults(() => pool.map(inc, xs));
    rows.push(await time(`map of ${nMap} items`, numbersMap.fn, budget, nMap));
    rows.push(
      await time(
        `imap of ${nImap} items, chunksize 1`,
        async () => {
          for await (const _ of pool.imap(inc, ys)) { /* consumed */ }
        },
        budget,
        nImap,
      ),
    );
    const stringsMap = countingFaults(() => pool.map(suffix, strings));
    rows.push(await time(`map of ${nMap} short strings`, stringsMap.fn, budget, nMap));
    const objectsMap = countingFaults(() => pool.map(bump, objects));
    rows.push(await time(`map of ${nMap} small objects`, objectsMap.fn, budget, nMap));
    faults = [numbersMap.faults(), stringsMap.faults(), objectsMap.faults()];
    cpus = [numbersMap.cpu(), stringsMap.cpu(), objectsMap.cpu()];
  }
  const [start, bare, prepared, answer, load] = await poolStart(inc, budget);
  rows.push(start, bare);
  const floors = [
    ["numbers", xs, xs.map(inc)],
    ["short strings", strings, strings.map(suffix)],
    ["small objects", objects, objects.map(bump)],
  ] as const;
  for (const [what, items, results] of floors) {
    const packIn = () => protocol.packChunk(items as unknown[]);
    const out = structuredClone(protocol.packChunk(results as unknown[]));
    const bytes = byteSize(packIn()) + byteSize(out);
    const block = new Uint8Array(bytes);
    // Into a buffer made once: a fresh one's allocation and first touch are not the copy (29 MB
    // by slice() took 81-84 ms alone on Bun and Node, by set() 1.7-2.2 ms on all three).
    const into = new Uint8Array(bytes);
    rows.push(
      await time(
        `floor: ${what}, ${(bytes / 2 ** 20).toFixed(1)} MB copied`,
        () => into.set(block),
        budget,
        nMap,
      ),
    );
    const floor = countingFaults(() => {
      structuredClone(packIn());
      const back = protocol.unpackChunk(structuredClone(out));
      if (!(back instanceof Float64Array)) return back.length;
      // Numbers come back as a Float64Array, which a map must still make its list from.
      const list = new Array(back.length);
      protocol.copyNumbers(back, list, 0);
      return list.length;
    });
    rows.push(await time(`floor: map of ${nMap} ${what}, one thread`, floor.fn, budget, nMap));
    floorFaults.push(floor.faults());
  }
  rows.push(prepared, answer, load);
  const pageFault = pageFaultCost(budget.quick ? 2 : budget.tier === "default" ? 3 : 5);
  rows.push(pageFault);
  const faultFigures: Record<string, number> = {};
  ["map", "map_strings", "map_objects"].forEach((key, i) => {
    if (faults[i] !== undefined) faultFigures[`${key}_faults`] = faults[i];
    if (floorFaults[i] !== undefined) faultFigures[`${key}_floor_faults`] = floorFaults[i];
    if (cpus[i] !== undefined) faultFigures[`${key}_cpu_ms`] = cpus[i];
  });
  if (pageFault.samples > 0) faultFigures.page_fault_ms = pageFault.min;
  return {
    title: "6. overhead: applyAsync, map and imap of a tiny task; a pool's start",
    rows,
    comparable: false,
    figures: {
      apply_async_per_s: rate(rows[0]),
      map_items_per_s: rate(rows[1]),
      imap1_items_per_s: rate(rows[2]),
      map_strings_per_s: rate(rows[3]),
      map_objects_per_s: rate(rows[4]),
      pool_start_ms: rows[5].min,
      bare_two_workers_ms: bare.min,
      map_copy_ms: rows[7].min,
      map_floor_ms: rows[8].min,
      map_strings_copy_ms: rows[9].min,
      map_strings_floor_ms: rows[10].min,
      map_objects_copy_ms: rows[11].min,
      map_objects_floor_ms: rows[12].min,
      prepared_pool_start_ms: prepared.min,
      bare_two_answers_ms: answer.min,
      bare_two_loads_ms: load.min,
      ...faultFigures,
    },
  };
}

/** The bytes a packed chunk holds (two per UTF-16 code unit of a string). */
function byteSize(chunk: unknown): number {
  if (ArrayBuffer.isView(chunk)) return chunk.byteLength;
  if (typeof chunk === "string") return chunk.length * 2;
  if (Array.isArray(chunk)) return chunk.reduce((sum: number, v) => sum + byteSize(v), 0);
  if (typeof chunk === "object" && chunk !== null) {
    return Object.values(chunk).reduce((sum: number, v) => sum + byteSize(v), 0);
  }
  return 8;
}
