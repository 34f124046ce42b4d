"""The primitives experiments of bench/primitives.ts, in Python's multiprocessing.

Prints one JSON object: messages or operations per second for each experiment.
"""
import json
import multiprocessing as mp
import sys
import time

QUICK = "--quick" in sys.argv
N_QUEUE = 50_000 if QUICK else 200_000
N_LOCK = 500_000 if QUICK else 2_000_000
N_VALUE = 50_000 if QUICK else 200_000
N_PIPE = 5_000 if QUICK else 20_000
# The best of REPEATS runs per experiment, as timeit advises and as bench/primitives.ts does.
REPEATS = 1 if QUICK else 5


def produce(q, n):
    for i in range(n):
        q.put(i)


def consume(q, n, out):
    for _ in range(n):
        q.get()
    out.put(True)


def add(v, n, start):
    start.wait()
    lock = v.get_lock()
    for _ in range(n):
        with lock:
            v.value += 1


def echo(conn, n):
    for _ in range(n):
        conn.send(conn.recv())


def queue_to_main():
    q = mp.Queue()
    p = mp.Process(target=produce, args=(q, N_QUEUE))
    p.start()
    q.get()
    t = time.perf_counter()
    for _ in range(N_QUEUE - 1):
        q.get()
    rate = (N_QUEUE - 1) / (time.perf_counter() - t)
    p.join()
    return rate


def queue_to_worker():
    q = mp.Queue()
    done = mp.Queue()
    c = mp.Process(target=consume, args=(q, N_QUEUE, done))
    c.start()
    t = time.perf_counter()
    p = mp.Process(target=produce, args=(q, N_QUEUE))
    p.start()
    done.get()
    rate = N_QUEUE / (time.perf_counter() - t)
    p.join()
    c.join()
    return rate


def lock_pairs():
    lock = mp.Lock()
    t = time.perf_counter()
    for _ in range(N_LOCK):
        lock.acquire()
        lock.release()
    return N_LOCK / (time.perf_counter() - t)


def value_additions():
    v = mp.Value("i", 0)
    start = mp.Event()
    ps = [mp.Process(target=add, args=(v, N_VALUE, start)) for _ in range(2)]
    for p in ps:
        p.start()
    t = time.perf_counter()
    start.set()
    for p in ps:
        p.join()
    rate = 2 * N_VALUE / (time.perf_counter() - t)
    assert v.value == 2 * N_VALUE
    return rate


def pipe_round_trips():
    a, b = mp.Pipe()
    p = mp.Process(target=echo, args=(b, N_PIPE))
    p.start()
    t = time.perf_counter()
    for i in range(N_PIPE):
        a.send(i)
        a.recv()
    rate = N_PIPE / (time.perf_counter() - t)
    p.join()
    return rate


def main():
    experiments = {
        "queue_worker_to_main": queue_to_main,
        "queue_worker_to_worker": queue_to_worker,
        "lock_pairs": lock_pairs,
        "value_additions": value_additions,
        "pipe_round_trips": pipe_round_trips,
    }
    out = {name: max(run() for _ in range(REPEATS)) for name, run in experiments.items()}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
