"""CPU cost of one request log line, in process, three ways:

- ``before``: as before item 9 of issue #13, a ``json.dumps`` of a dict and a
  StreamHandler that writes and flushes stderr per line;
- ``queue``: the same line through the stdlib QueueHandler + QueueListener (a
  writer thread; the alternative considered);
- ``now``: ``app.logging_setup.request_line`` and ``BufferedStreamHandler``.

    .venv/bin/python -m benchmarks.log_line_cost [--lines 3000] [--rounds 3]

CPU time of the whole process (``time.process_time``: writer/flusher threads
included) per line, lines written to a file as the benchmark's gunicorn writes its
stderr. Two paces: back to back, and one line every 0.3 ms with the process asleep
in between, like a sync worker that logs once per request and waits on its socket
in between (the cost of an empty paced loop is subtracted). Process CPU time is
much steadier than wall time on a shared machine.
"""
import argparse
import json
import logging
import logging.handlers
import os
import queue
import tempfile
import time

from app.logging_setup import BufferedStreamHandler, request_line

ROUTE = "/api/hospitals/<int:hospital_id>"


def before(log, i):
    log.info(json.dumps({"method": "GET", "route": ROUTE, "status": 200,
                         "duration_ms": round(1.2345 + i % 7, 2), "user_id": i}))


def now(log, i):
    log.info(request_line("GET", ROUTE, 200, round(1.2345 + i % 7, 2), i))


class QueueVariant:
    def __init__(self, stream):
        self.target = logging.StreamHandler(stream)
        self.target.setFormatter(logging.Formatter("%(message)s"))
        self.queue = queue.SimpleQueue()
        self.handler = logging.handlers.QueueHandler(self.queue)
        self.listener = logging.handlers.QueueListener(self.queue, self.target)
        self.listener.start()

    def close(self):
        self.listener.stop()  # writes what is queued


def cpu_per_line(name, stream, emit, lines, pace):
    log = logging.getLogger(f"logcost.{name}.{pace}.{time.monotonic_ns()}")
    log.propagate = False
    log.setLevel(logging.INFO)
    variant = None
    if name == "queue":
        variant = QueueVariant(stream)
        handler = variant.handler
    elif name == "before":
        handler = logging.StreamHandler(stream)
    elif name == "now":
        handler = BufferedStreamHandler(stream)
    if name != "empty":
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
    started = time.process_time()
    for i in range(lines):
        emit(log, i)
        if pace:
            time.sleep(pace)
    if variant is not None:
        variant.close()  # the writer thread's work is counted
    elif name != "empty":
        handler.close()
    return (time.process_time() - started) / lines * 1e6


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, open(os.path.join(tmp, "stderr.log"), "a") as out:
        for round_ in range(1, args.rounds + 1):
            for pace in (0.0, 0.0003):
                empty = cpu_per_line("empty", out, lambda log, i: None, args.lines, pace)
                figures = [(name, cpu_per_line(name, out, emit, args.lines, pace) - empty)
                           for name, emit in (("before", before), ("queue", now), ("now", now))]
                label = "back to back" if not pace else f"one per {pace * 1000:g} ms"
                print(f"round {round_} {label:<15} "
                      + "   ".join(f"{n} {us:5.1f}" for n, us in figures)
                      + f"   µs CPU/line   load {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
