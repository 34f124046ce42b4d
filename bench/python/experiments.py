"""The experiments of bench/ (issue 5, experiments 1 to 6), in Python's multiprocessing.

Prints one JSON object of figures, each the best of REPEATS runs: times in milliseconds
(`*_ms`, the lowest) and rates in items or tasks per second (`*_per_s`, the highest).

1. cpu_*: the seed's `job(n)` twice, sequentially, on multiprocessing.dummy.Pool(2) and on
   Pool(2) with chunksize 1 (the pool started before timing).
2. processes_ms vs pool4_map_ms: N short tasks as N Process objects, started then joined, vs
   Pool(4).map including the pool's start and its close and join.
3. chunks_*_items_per_s: Pool(2).map of a tiny function with chunksize 1, 10, 100 and the default.
4. pi_*: Monte Carlo pi, map(monte_carlo, [N] * 4) on Pool(4) (started before timing) vs sequential.
5. io_*: tasks that sleep, sequentially, on multiprocessing.dummy.Pool(5) and on Pool(5) (both
   started before timing).
6. apply_async_per_s, map_items_per_s, imap1_items_per_s, map_strings_per_s (short strings),
   map_objects_per_s (small dicts) on Pool(2) (started before timing), and
   pool_start_ms: Pool(2) from construction to the first result of apply.

The start method is the platform's default, `fork` on Linux up to Python 3.13; Python 3.14
changes the default on Linux to `forkserver`, which makes starting processes and pools slower
(and needs the functions below to be importable, which they are).
"""
import gc
import json
import multiprocessing as mp
import multiprocessing.dummy
import random
import sys
import time

def _flag(name, default=None):
    for arg in sys.argv[1:]:
        if arg.startswith(f"--{name}="):
            return arg[len(name) + 3:]
    return default


QUICK = "--quick" in sys.argv
# The sizes, as bench/_sizes.ts gives them (`--sizes=<json>`), so that both sides do the same
# work; without them, the seeds' sizes (or the quick ones).
SIZES = json.loads(_flag("sizes", "null")) or {}
# The best of REPEATS runs per experiment, as timeit advises. The harness runs this script
# once per round and takes the median of the rounds, so it asks for fewer (`--repeats=1`).
REPEATS = int(_flag("repeats", 1 if QUICK else 5))
ONLY = set(_flag("only", "").split(",")) - {""}

N_JOB = SIZES.get("job", 10**6 if QUICK else 10**7)
N_TASKS = SIZES.get("tasks", 20 if QUICK else 100)
N_CHUNKS = SIZES.get("chunks", 20_000 if QUICK else 100_000)
N_PI = SIZES.get("pi", 10**5 if QUICK else 10**6)
N_IO = SIZES.get("ioTasks", 10 if QUICK else 20)
IO_SLEEP = SIZES.get("ioMs", 50 if QUICK else 100) / 1000
N_APPLY = SIZES.get("apply", 10_000 if QUICK else 100_000)
N_MAP = SIZES.get("map", 10**5 if QUICK else 10**6)
N_IMAP = SIZES.get("imap", 10_000 if QUICK else 100_000)


# The tasks, at module level so that they pickle.
def job(n):
    res = 0
    for i in range(n):
        res += i + i**2 + i**3
    return res


def task(_=None):
    return sum(range(10_000))


def inc(x):
    return x + 1


def suffix(s):
    return s + "!"


def bump(o):
    return {"id": o["id"] + 1, "tag": o["tag"]}


def monte_carlo(n):
    # Seeded from os.urandom in each call: forked workers would otherwise inherit one state.
    rnd = random.Random().random
    inside = 0
    for _ in range(n):
        x = rnd()
        y = rnd()
        if x * x + y * y <= 1.0:
            inside += 1
    return inside


def sleeper(_):
    time.sleep(IO_SLEEP)


def ms_since(t):
    return (time.perf_counter() - t) * 1000


def started(pool):
    """The pool, once a task of it has run."""
    pool.apply(inc, (0,))
    return pool


# 1. Plain vs thread-style vs multi-core.
def cpu_sequential():
    t = time.perf_counter()
    res = [job(N_JOB), job(N_JOB)]
    ms = ms_since(t)
    assert res[0] == res[1]
    return ms


def cpu_dummy():
    with started(mp.dummy.Pool(2)) as pool:
        t = time.perf_counter()
        res = pool.map(job, [N_JOB, N_JOB])
        ms = ms_since(t)
    assert res[0] == res[1]
    return ms


def cpu_pool():
    with started(mp.Pool(2)) as pool:
        t = time.perf_counter()
        res = pool.map(job, [N_JOB, N_JOB], 1)
        ms = ms_since(t)
    assert res[0] == res[1]
    return ms


# 2. One process per task vs a pool.
def processes():
    t = time.perf_counter()
    ps = [mp.Process(target=task) for _ in range(N_TASKS)]
    for p in ps:
        p.start()
    for p in ps:
        p.join()
    ms = ms_since(t)
    assert all(p.exitcode == 0 for p in ps)
    return ms


def pool4_map():
    t = time.perf_counter()
    pool = mp.Pool(4)
    res = pool.map(task, range(N_TASKS))
    pool.close()
    pool.join()
    ms = ms_since(t)
    assert len(res) == N_TASKS
    return ms


# 3. Chunk size.
def chunks(chunksize):
    def run():
        with started(mp.Pool(2)) as pool:
            t = time.perf_counter()
            res = pool.map(inc, range(N_CHUNKS), chunksize)
            rate = N_CHUNKS / (time.perf_counter() - t)
        assert res[-1] == N_CHUNKS
        return rate

    return run


# 4. Monte Carlo pi.
def pi_estimate(counts):
    pi = 4 * sum(counts) / (N_PI * len(counts))
    assert abs(pi - 3.1416) < 0.05, pi


def pi_sequential():
    t = time.perf_counter()
    counts = [monte_carlo(N_PI) for _ in range(4)]
    ms = ms_since(t)
    pi_estimate(counts)
    return ms


def pi_pool4():
    with started(mp.Pool(4)) as pool:
        t = time.perf_counter()
        counts = pool.map(monte_carlo, [N_PI] * 4)
        ms = ms_since(t)
    pi_estimate(counts)
    return ms


# 5. I/O-bound.
def io_sequential():
    t = time.perf_counter()
    for i in range(N_IO):
        sleeper(i)
    return ms_since(t)


def io_pool(make):
    def run():
        with started(make(5)) as pool:
            t = time.perf_counter()
            pool.map(sleeper, range(N_IO))
            return ms_since(t)

    return run


# 6. Overhead.
def apply_async():
    with started(mp.Pool(2)) as pool:
        t = time.perf_counter()
        results = [pool.apply_async(inc, (i,)) for i in range(N_APPLY)]
        res = [r.get() for r in results]
        rate = N_APPLY / (time.perf_counter() - t)
    assert res[-1] == N_APPLY
    return rate


def map_items():
    with started(mp.Pool(2)) as pool:
        t = time.perf_counter()
        res = pool.map(inc, range(N_MAP))
        rate = N_MAP / (time.perf_counter() - t)
    assert res[-1] == N_MAP
    return rate


def map_of(fn, make):
    def run():
        items = [make(i) for i in range(N_MAP)]
        with started(mp.Pool(2)) as pool:
            t = time.perf_counter()
            res = pool.map(fn, items)
            rate = N_MAP / (time.perf_counter() - t)
        assert len(res) == N_MAP
        return rate

    return run


def imap1_items():
    with started(mp.Pool(2)) as pool:
        t = time.perf_counter()
        last = None
        for last in pool.imap(inc, range(N_IMAP), 1):
            pass
        rate = N_IMAP / (time.perf_counter() - t)
    assert last == N_IMAP
    return rate


def pool_start():
    t = time.perf_counter()
    pool = mp.Pool(2)
    pool.apply(inc, (0,))
    ms = ms_since(t)
    pool.terminate()
    pool.join()
    return ms


def collected(run):
    """run() after a collection: the harness on our side (mitata) collects before its samples."""
    gc.collect()
    return run()


def main():
    # (name, run, best): times take the lowest of REPEATS runs, rates the highest.
    experiments = [
        ("cpu_sequential_ms", cpu_sequential, min),
        ("cpu_dummy_ms", cpu_dummy, min),
        ("cpu_pool_ms", cpu_pool, min),
        ("processes_ms", processes, min),
        ("pool4_map_ms", pool4_map, min),
        ("chunks_1_items_per_s", chunks(1), max),
        ("chunks_10_items_per_s", chunks(10), max),
        ("chunks_100_items_per_s", chunks(100), max),
        ("chunks_default_items_per_s", chunks(None), max),
        ("pi_sequential_ms", pi_sequential, min),
        ("pi_pool4_ms", pi_pool4, min),
        ("io_sequential_ms", io_sequential, min),
        ("io_dummy5_ms", io_pool(mp.dummy.Pool), min),
        ("io_pool5_ms", io_pool(mp.Pool), min),
        ("apply_async_per_s", apply_async, max),
        ("map_items_per_s", map_items, max),
        ("imap1_items_per_s", imap1_items, max),
        ("map_strings_per_s", map_of(suffix, lambda i: f"item-{i}"), max),
        ("map_objects_per_s", map_of(bump, lambda i: {"id": i, "tag": "x"}), max),
        ("pool_start_ms", pool_start, min),
    ]
    out = {
        name: best(collected(run) for _ in range(REPEATS))
        for name, run, best in experiments
        if not ONLY or name in ONLY
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
