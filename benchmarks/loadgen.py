"""A bounded HTTP load client: its own processes, a fixed number of connections, a
fixed duration, 127.0.0.1 only.

``run_load`` forks ``processes`` client processes that together hold
``connections`` persistent http.client connections (one per thread). Every
connection sends its next request as soon as the previous answer is read, until
the deadline. A scenario is a function ``next_request(connection_index, n)`` that
returns a Request or None (this connection has used up its share of the work:
approvals and payments touch each booking once).

gunicorn's sync workers close the connection after every response (they have no
keep-alive); http.client then reconnects for the next request, so every request
here pays for a TCP connect, exactly as a real client of this deployment would.
"""
import http.client
import json
import multiprocessing
import threading
import time
from array import array
from collections import Counter, defaultdict
from dataclasses import dataclass, field

HOST = "127.0.0.1"


@dataclass
class Request:
    method: str
    path: str
    headers: dict = field(default_factory=dict)
    body: object = None  # JSON-serialisable, or None
    kind: str = "request"  # a label: the mixed load reports latencies per kind


@dataclass
class Result:
    name: str
    seconds: float = 0.0
    statuses: Counter = field(default_factory=Counter)
    latencies_ms: dict = field(default_factory=lambda: defaultdict(list))  # kind -> sorted
    connection_errors: int = 0
    locked: int = 0  # answers that mention "database is locked" / busy
    samples: list = field(default_factory=list)  # a few unexpected answers, for the report
    exhausted: bool = False  # a connection ran out of work before the deadline

    @property
    def requests(self):
        return sum(self.statuses.values())

    @property
    def rps(self):
        return self.requests / self.seconds if self.seconds else 0.0

    def all_latencies(self):
        return sorted(v for values in self.latencies_ms.values() for v in values)

    def percentile(self, q, kind=None):
        values = self.latencies_ms.get(kind, []) if kind else self.all_latencies()
        if not values:
            return float("nan")
        return values[min(len(values) - 1, int(q / 100 * len(values)))]

    def max(self, kind=None):
        values = self.latencies_ms.get(kind, []) if kind else self.all_latencies()
        return values[-1] if values else float("nan")

    @property
    def server_errors(self):
        return sum(n for status, n in self.statuses.items() if status >= 500)


def _connection_loop(port, next_request, index, start_at, deadline, expected, out):
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    latencies = defaultdict(lambda: array("d"))
    statuses, locked, errors, samples = Counter(), 0, 0, []
    exhausted, n, finished_at = False, 0, start_at
    while time.time() < start_at:
        time.sleep(0.001)
    while time.time() < deadline:
        request = next_request(index, n)
        n += 1
        if request is None:
            exhausted = True
            break
        body = None if request.body is None else json.dumps(request.body).encode()
        headers = dict(request.headers)
        if body is not None:
            headers["Content-Type"] = "application/json"
        began = time.perf_counter()
        try:
            conn.request(request.method, request.path, body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException):
            errors += 1
            conn.close()
            continue
        latencies[request.kind].append((time.perf_counter() - began) * 1000)
        finished_at = time.time()
        statuses[response.status] += 1
        if b"locked" in payload or (response.status == 503 and b"busy" in payload):
            locked += 1
        if response.status not in expected and len(samples) < 3:
            samples.append(f"{request.method} {request.path} -> {response.status} "
                           f"{payload[:300].decode(errors='replace')}")
    conn.close()
    out.append(({k: v.tobytes() for k, v in latencies.items()}, statuses, locked, errors,
                samples, exhausted, finished_at))


def _client_process(ports, next_request, indexes, start_at, deadline, expected, queue):
    out = []
    threads = [threading.Thread(target=_connection_loop,
                                args=(ports[i % len(ports)], next_request, i, start_at, deadline,
                                      expected, out))
               for i in indexes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    queue.put(out)


def run_load(name, port, next_request, *, connections=16, duration=10.0, processes=4,
             expected=(200,)):
    """Drive the server on 127.0.0.1:``port`` and return a Result.

    ``port`` may be a list of ports (several app instances on one database): connection
    ``i`` then talks to ``port[i % len(port)]``, so the instances share the connections
    (and the scenario's work) evenly, and the Result's rate is the sum of theirs."""
    ports = list(port) if isinstance(port, (list, tuple)) else [port]
    context = multiprocessing.get_context("fork")  # children inherit next_request and its data
    queue = context.Queue()
    start_at = time.time() + 0.3  # every process is up before the clock starts
    deadline = start_at + duration
    groups = [list(range(p, connections, processes)) for p in range(processes)]
    workers = [context.Process(target=_client_process,
                               args=(ports, next_request, group, start_at, deadline,
                                     set(expected), queue))
               for group in groups if group]
    for worker in workers:
        worker.start()
    result = Result(name)
    last_finish = start_at
    for _ in workers:
        for latencies, statuses, locked, errors, samples, exhausted, finished_at in queue.get():
            for kind, raw in latencies.items():
                values = array("d")
                values.frombytes(raw)
                result.latencies_ms[kind].extend(values)
            result.statuses.update(statuses)
            result.locked += locked
            result.connection_errors += errors
            result.samples.extend(samples[: max(0, 5 - len(result.samples))])
            result.exhausted |= exhausted
            last_finish = max(last_finish, finished_at)
    for worker in workers:
        worker.join()
    for kind in result.latencies_ms:
        result.latencies_ms[kind].sort()
    # the clock stops at the deadline, or earlier when every connection ran out of work
    result.seconds = max(1e-9, min(deadline, last_finish) - start_at)
    return result
