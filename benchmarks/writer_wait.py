"""How contending writers wait: the flock writer queue against signal-free designs.

    .venv/bin/python -m benchmarks.writer_wait [--processes 4] [--transactions 300] [--rounds 3]

Each design runs ``--processes`` forked processes writing at once, each
``--transactions`` short write transactions (BEGIN IMMEDIATE, one INSERT, a
little work with the lock held, COMMIT) in its main thread, as a gunicorn sync
worker does. Designs (run back to back, alternating, each round on a fresh database):

- queue:  app.db.connect(writer_queue=True): flock queue, blocking with a SIGALRM deadline
- sqlite: app.db.connect(writer_queue=False): SQLite's own busy handler (1-100 ms sleeps)
- apsw:   apsw (if installed) with a Python busy handler retrying every 0.2-2 ms (no signal)

Prints, per design, the median over rounds of transactions/s and p50/p99 latency.
"""
import argparse
import multiprocessing
import os
import statistics
import tempfile
import time

from app.db import connect, transaction

WORK_S = 0.0003  # work with the write lock held, like a short request's writes
BUSY_TIMEOUT_MS = 5000


def _hold():
    end = time.perf_counter() + WORK_S
    while time.perf_counter() < end:
        pass


def _stdlib_writer(path, n, queue, start):
    conn = connect(path, busy_timeout_ms=BUSY_TIMEOUT_MS, writer_queue=queue)
    latencies = []
    start.wait()
    for i in range(n):
        began = time.perf_counter()
        with transaction(conn):
            conn.execute("INSERT INTO t (pid, i) VALUES (?, ?)", (os.getpid(), i))
            _hold()
        latencies.append(time.perf_counter() - began)
    conn.close()
    return latencies


def _apsw_writer(path, n, start):
    import apsw

    conn = apsw.Connection(path)
    conn.execute("PRAGMA synchronous = NORMAL")
    state = {"deadline": 0.0}

    def busy(tries):
        # Signal-free: retry soon (0.2 ms, doubling to 2 ms) until busy_timeout.
        if time.monotonic() > state["deadline"]:
            return False
        time.sleep(min(0.0002 * 2 ** tries, 0.002))
        return True

    conn.set_busy_handler(busy)
    latencies = []
    start.wait()
    for i in range(n):
        began = time.perf_counter()
        state["deadline"] = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t (pid, i) VALUES (?, ?)", (os.getpid(), i))
        _hold()
        conn.execute("COMMIT")
        latencies.append(time.perf_counter() - began)
    conn.close()
    return latencies


def _child(design, path, n, start, results):
    if design == "apsw":
        results.put(_apsw_writer(path, n, start))
    else:
        results.put(_stdlib_writer(path, n, design == "queue", start))


def run(design, processes, n, directory):
    path = os.path.join(directory, f"{design}-{time.monotonic_ns()}.sqlite3")
    setup = connect(path)
    with transaction(setup):
        setup.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, pid INTEGER, i INTEGER)")
    setup.close()
    context = multiprocessing.get_context("fork")
    start, results = context.Event(), context.Queue()
    children = [context.Process(target=_child, args=(design, path, n, start, results))
                for _ in range(processes)]
    for child in children:
        child.start()
    time.sleep(0.3)  # every child connected and waiting
    began = time.perf_counter()
    start.set()
    latencies = [x for _ in children for x in results.get(timeout=300)]
    elapsed = time.perf_counter() - began
    for child in children:
        child.join()
    latencies.sort()
    return (len(latencies) / elapsed, latencies[len(latencies) // 2] * 1000,
            latencies[int(len(latencies) * 0.99)] * 1000)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--transactions", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    designs = ["queue", "sqlite"]
    try:
        import apsw  # noqa: F401
        designs.append("apsw")
    except ImportError:
        print("apsw not installed: comparing queue and sqlite only")
    figures = {design: [] for design in designs}
    with tempfile.TemporaryDirectory() as directory:
        for round_ in range(args.rounds):
            for design in designs:
                figures[design].append(run(design, args.processes, args.transactions, directory))
                tps, p50, p99 = figures[design][-1]
                print(f"round {round_ + 1} {design:6s} {tps:7.0f} tx/s  p50 {p50:6.2f} ms  p99 {p99:7.2f} ms")
    print(f"median of {args.rounds} rounds, {args.processes} processes x {args.transactions} transactions:")
    for design in designs:
        tps, p50, p99 = (statistics.median(f[k] for f in figures[design]) for k in range(3))
        print(f"  {design:6s} {tps:7.0f} tx/s  p50 {p50:6.2f} ms  p99 {p99:7.2f} ms")


if __name__ == "__main__":
    main()
