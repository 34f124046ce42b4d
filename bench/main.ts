/**
 * Bench stub: seed 002's timing experiment (section 1.4, "效率比对 threading & multiprocessing"),
 * the sum of `i + i**2 + i**3` for `i < 10**7`, computed twice: once after the other on the
 * main thread, then as two tasks of `new Pool(2)`. Prints the time of each variant and the
 * speed-up `sequential / pool`.
 *
 * ```python
 * def job(q):
 *     res = 0
 *     for i in range(10000000):
 *         res += i+i**2+i**3
 *     q.put(res)
 * ```
 *
 * Here `job` returns its sum (plain JS numbers, so floats, not Python's big integers), and both
 * variants add the two sums the same way, so their results are equal, which the bench asserts.
 *
 * Run it with any of (`--quick` takes fewer samples):
 *
 * ```sh
 * deno run -A bench/main.ts [--quick]
 * bun bench/main.ts [--quick]
 * node bench/main.ts [--quick]
 * ```
 *
 * @module
 */
import assert from "node:assert/strict";
import { availableParallelism } from "node:os";
import process from "node:process";
import { do_not_optimize, measure } from "mitata";
import { Pool } from "../mod.ts";

const N = 10 ** 7;
const QUICK = process.argv.slice(2).includes("--quick");

// Self-contained, so that the pool sends it to the workers as it is.
function job(n: number): number {
  let res = 0;
  for (let i = 0; i < n; i++) {
    res += i + i ** 2 + i ** 3;
  }
  return res;
}

function sequential(): number {
  return job(N) + job(N);
}

async function parallel(pool: Pool): Promise<number> {
  const [a, b] = await pool.map(job, [N, N], 1);
  return a + b;
}

/** The runtime's name and version: "deno 2.9.6", "bun 1.4.5", "node v24.21.0". */
function runtimeName(): string {
  const g = globalThis as { Deno?: { version: { deno: string } }; Bun?: { version: string } };
  if (g.Deno !== undefined) return `deno ${g.Deno.version.deno}`;
  if (g.Bun !== undefined) return `bun ${g.Bun.version}`;
  return `node ${process.version}`;
}

interface Row {
  name: string;
  avg: number;
  min: number;
  max: number;
  samples: number;
}

// mitata collects garbage before measuring. Where no collector is exposed (Deno, and Node
// without --expose-gc) its fallback allocates 1 GiB instead, which made the next samples up to
// twice as slow and noisy in trials: use a real collector, or none.
const host = globalThis as { gc?: () => void; Bun?: { gc(force: boolean): void } };
const gc = host.Bun !== undefined
  ? () => host.Bun!.gc(true)
  : typeof host.gc === "function"
  ? host.gc
  : false;

// mitata times in nanoseconds. Each sample here takes from 10 ms (Bun) to a few hundred, so a
// few samples suffice; mitata runs one warm-up call first.
const OPTIONS = QUICK
  ? { min_samples: 3, max_samples: 3, min_cpu_time: 0, gc }
  : { min_samples: 10, max_samples: 50, min_cpu_time: 2e9, gc };

async function time(name: string, fn: () => unknown): Promise<Row> {
  const stats = await measure(fn, OPTIONS);
  return { name, avg: stats.avg, min: stats.min, max: stats.max, samples: stats.samples.length };
}

function ms(ns: number): string {
  return `${(ns / 1e6).toFixed(1)} ms`;
}

if (import.meta.main) {
  console.log("seed 002: sum of i + i**2 + i**3 for i < 10**7, computed twice");
  console.log(
    `${runtimeName()}, ${availableParallelism()} CPUs, ${QUICK ? "--quick" : "full"} run\n`,
  );

  const expected = sequential();
  const pool = new Pool(2);
  try {
    assert.equal(await parallel(pool), expected, "the pool's sum differs from the sequential one");

    const rows = [
      await time("sequential (main thread)", () => do_not_optimize(sequential())),
      await time("Pool(2).map, workers started", async () => do_not_optimize(await parallel(pool))),
      await time("Pool(2).map, with start and end", async () => {
        await using fresh = new Pool(2);
        do_not_optimize(await parallel(fresh));
      }),
    ];

    const base = rows[0].avg;
    const header = ["variant", "avg", "min", "max", "samples", "speed-up"];
    const table = rows.map((r) => [
      r.name,
      ms(r.avg),
      ms(r.min),
      ms(r.max),
      String(r.samples),
      `${(base / r.avg).toFixed(2)}x`,
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
    const line = (cells: string[]) =>
      cells.map((c, i) => i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i])).join("  ");
    console.log(line(header));
    for (const row of table) console.log(line(row));
    console.log(`\nresult: ${expected} (equal on both variants)`);
  } finally {
    await pool.terminate();
  }
}
