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


def main():
    out = {}
    q = mp.Queue()
    p = mp.Process(target=produce, args=(q, N_QUEUE))
    p.start()
    q.get()
    t = time.perf_counter()
    for _ in range(N_QUEUE - 1):
        q.get()
    out["queue_worker_to_main"] = (N_QUEUE - 1) / (time.perf_counter() - t)
    p.join()

    q = mp.Queue()
    done = mp.Queue()
    c = mp.Process(target=consume, args=(q, N_QUEUE, done))
    c.start()
    t = time.perf_counter()
    p = mp.Process(target=produce, args=(q, N_QUEUE))
    p.start()
    done.get()
    out["queue_worker_to_worker"] = N_QUEUE / (time.perf_counter() - t)
    p.join()
    c.join()

    lock = mp.Lock()
    t = time.perf_counter()
    for _ in range(N_LOCK):
        lock.acquire()
        lock.release()
    out["lock_pairs"] = N_LOCK / (time.perf_counter() - t)

    v = mp.Value("i", 0)
    start = mp.Event()
    ps = [mp.Process(target=add, args=(v, N_VALUE, start)) for _ in range(2)]
    for p in ps:
        p.start()
    t = time.perf_counter()
    start.set()
    for p in ps:
        p.join()
    out["value_additions"] = 2 * N_VALUE / (time.perf_counter() - t)
    assert v.value == 2 * N_VALUE

    a, b = mp.Pipe()
    p = mp.Process(target=echo, args=(b, N_PIPE))
    p.start()
    t = time.perf_counter()
    for i in range(N_PIPE):
        a.send(i)
        a.recv()
    out["pipe_round_trips"] = N_PIPE / (time.perf_counter() - t)
    p.join()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
