"""The managers experiment of bench/managers.ts, in Python's multiprocessing.

Prints one JSON object: dict proxy calls (a set and a get count as two) per second, through
Manager() and through a BaseManager served over TCP on 127.0.0.1, each the best of REPEATS runs
after --warm-up-ms (2 s unless told; half a second with --quick) of the same calls untimed
(a warm-up, as bench/managers.ts makes: there, for the JIT to settle).
"""
import gc
import json
import multiprocessing as mp
import sys
import time
from multiprocessing.managers import BaseManager, DictProxy

def _flag(name, default):
    for arg in sys.argv[1:]:
        if arg.startswith(f"--{name}="):
            return int(arg[len(name) + 3:])
    return default


QUICK = "--quick" in sys.argv
# `--n` and `--repeats` as bench/main.ts gives them, so that both sides make the same calls.
N = _flag("n", 2_000 if QUICK else 20_000)
REPEATS = _flag("repeats", 1 if QUICK else 5)
WARM_UP_S = _flag("warm-up-ms", 500 if QUICK else 2_000) / 1000

shared = {}


def get_dict():
    return shared


class RemoteManager(BaseManager):
    pass


RemoteManager.register("get_dict", callable=get_dict, proxytype=DictProxy)


# As bench/managers.ts's WARM_UP_PAIRS: the warm-up runs the timed run's code, in short runs.
WARM_UP_PAIRS = 64


def pairs(d, n):
    for i in range(n):
        d["k"] = i
        d["k"]


def warm_up(d):
    start = time.perf_counter()
    while time.perf_counter() - start < WARM_UP_S:
        pairs(d, WARM_UP_PAIRS)


def calls_per_second(d):
    # As each timed run of bench/managers.ts starts after a collection.
    gc.collect()
    t = time.perf_counter()
    pairs(d, N)
    return 2 * N / (time.perf_counter() - t)


def main():
    out = {}
    with mp.Manager() as manager:
        d = manager.dict()
        warm_up(d)
        out["manager_dict_calls"] = max(calls_per_second(d) for _ in range(REPEATS))

    server = RemoteManager(address=("127.0.0.1", 0), authkey=b"secret")
    server.start()
    client = RemoteManager(address=server.address, authkey=b"secret")
    client.connect()
    d = client.get_dict()
    warm_up(d)
    out["tcp_dict_calls"] = max(calls_per_second(d) for _ in range(REPEATS))
    server.shutdown()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
