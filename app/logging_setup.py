"""Structured request logging: one JSON line per request.

Only method, route pattern, status, duration and user id are logged: never
bodies, query strings, headers, tokens, passwords or patient details.

Cost per request (the service runs with INFO on, as scripts/serve starts it):

- the line is one f-string of preformatted parts, not a ``json.dumps`` of a dict;
  the JSON string of each route pattern and method is computed once and cached
  (patterns are constants, but they are still escaped). The text is exactly what
  ``json.dumps({"method": ..., "route": ..., "status": ..., "duration_ms": ...,
  "user_id": ...})`` gives (tests/test_logging_setup.py pins it);
- the "rapidcare" loggers write through ``BufferedStreamHandler``: a line goes
  into an in-memory buffer; the buffer is written to stderr with one ``write`` and
  one ``flush`` when it holds 64 KB, when a record of WARNING or above arrives
  (errors show at once), and once a second by a flusher thread that sleeps
  otherwise. A worker thus pays no system call per request and never blocks on a
  slow stderr (a terminal, a stalled journal) except when 64 KB pile up.

Measured (benchmarks/log_line_cost.py, RESULTS.md §0c), and why not a queue: a
QueueHandler/QueueListener (or our own writer thread draining a queue) moves the
write off the request, but a sync worker logs one line per request, so every line
wakes the writer thread and hands the GIL over and back: paced like a worker, that
cost 30 µs more CPU per line than the plain StreamHandler it replaced, not less.

Lines are not lost on a normal exit: ``close()`` (run by ``logging.shutdown`` at
interpreter exit, which a gunicorn worker reaches on every graceful stop, SIGTERM,
SIGQUIT, SIGINT, max-requests) writes the buffer. A worker killed outright
(SIGKILL, os._exit) loses the INFO lines of its last second at most. Lines reach
stderr up to a second late. After a fork (gunicorn --preload builds the app in the
master) the child starts with an empty buffer and its own flusher thread.
"""
import json
import logging
import os
import sys
import threading
import time

from flask import g, request

log = logging.getLogger("rapidcare.request")


class BufferedStreamHandler(logging.Handler):
    """Lines buffered in memory, written in one go (see the module docstring)."""

    terminator = "\n"

    def __init__(self, stream=None, *, interval=1.0, max_bytes=64 * 1024,
                 flush_level=logging.WARNING):
        super().__init__()
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self.max_bytes = max_bytes
        self.flush_level = flush_level
        self._reset()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._reset)

    def _reset(self):
        self._lines = []
        self._size = 0
        self._pid = os.getpid()
        self._flusher = None
        self._stop = threading.Event()
        # Held while a batch is written. Always taken while holding self.lock (so batches
        # leave in the order they were taken), then self.lock is let go for the write.
        self._write_lock = threading.Lock()

    def emit(self, record):  # called under self.lock (Handler.handle)
        try:
            text = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self._append(text, record.levelno)

    def emit_line(self, text, levelno):
        """What ``handle`` of a record formatted as ``text`` does, minus the record (the
        request log's fast path, see ``_sole_handler``)."""
        with self.lock:
            self._append(text, levelno)

    def _append(self, text, levelno):  # under self.lock
        if self._pid != os.getpid():  # forked without the at-fork hook
            self._reset()
        self._lines.append(text)
        self._size += len(text)
        if self._flusher is None:
            self._flusher = threading.Thread(target=self._flush_periodically, daemon=True,
                                             name="rapidcare-log-flusher")
            self._flusher.start()
        if self._size >= self.max_bytes or levelno >= self.flush_level:
            with self._write_lock:
                self._write(self._take())

    def _take(self):
        lines, self._lines, self._size = self._lines, [], 0
        return lines

    def _write(self, lines):  # under self._write_lock
        if not lines:
            return
        try:
            self.stream.write(self.terminator.join(lines) + self.terminator)
            self.stream.flush()
        except Exception:
            pass  # a closed or broken stderr: logging never breaks the worker

    def _flush_periodically(self):
        stop = self._stop
        while not stop.wait(self.interval):
            self.flush()

    def flush(self):
        """Write every buffered line now."""
        with self.lock:
            lines = self._take()
            self._write_lock.acquire()
        try:  # outside self.lock: a request logging meanwhile does not wait on the pipe
            self._write(lines)
        finally:
            self._write_lock.release()

    def close(self):
        """Write the buffer and stop the flusher (run at exit by logging.shutdown)."""
        self._stop.set()
        self.flush()
        super().close()


_json_strings = {}


def _json_string(text):
    """``json.dumps(text)``, cached: route patterns and methods are a small fixed set."""
    try:
        return _json_strings[text]
    except KeyError:
        if len(_json_strings) < 10_000:
            _json_strings[text] = encoded = json.dumps(text)
            return encoded
        return json.dumps(text)


def request_line(method, route, status, duration_ms, user_id):
    """The request log line: the same text as ``json.dumps`` of the dict of these keys."""
    return (f'{{"method": {_json_string(method)}, '
            f'"route": {"null" if route is None else _json_string(route)}, '
            f'"status": {_json_number(status)}, '
            f'"duration_ms": {_json_number(duration_ms)}, '
            f'"user_id": {_json_number(user_id)}}}')


def _json_number(value):
    """``json.dumps(value)`` for None, an int or a float, without the encoder's set-up."""
    kind = type(value)
    if value is None:
        return "null"
    if kind is int:
        return int.__repr__(value)
    if kind is float and value == value and value not in (float("inf"), float("-inf")):
        return float.__repr__(value)
    return json.dumps(value)  # anything else: exactly what json.dumps makes of it


# The formatter of the service's own handler: a record's text is its message, as is.
MESSAGE_ONLY = logging.Formatter("%(message)s")


def _sole_handler(logger):
    """The handler an INFO record of ``logger`` would reach, if that is all that would
    happen to it: exactly one handler on the way, a BufferedStreamHandler writing the
    message as is (MESSAGE_ONLY), with no filter anywhere and the stock record factory.
    Otherwise None: someone configured logging (pytest's caplog, an operator's handler
    or filter) and the record goes through ``Logger.info`` as usual.

    Why: ``Logger.info`` builds a LogRecord (time, thread, process, the caller's frame
    found by walking the stack) that this handler never reads; going around it took
    15-18 µs of CPU off every request (benchmarks/RESULTS.md §0d). The walk mirrors
    ``Logger.callHandlers``: up the parents until one does not propagate."""
    if logging.getLogRecordFactory() is not logging.LogRecord:
        return None
    found = None
    while logger is not None:
        if logger.filters:
            return None
        for handler in logger.handlers:
            if (found is not None or type(handler) is not BufferedStreamHandler
                    or handler.filters or handler.formatter is not MESSAGE_ONLY
                    or handler.level > logging.INFO):
                return None
            found = handler
        if not logger.propagate:
            break
        logger = logger.parent
    return found


def init_app(app):
    if not logging.getLogger("rapidcare").handlers:
        handler = BufferedStreamHandler(sys.stderr)
        handler.setFormatter(MESSAGE_ONLY)
        logging.getLogger("rapidcare").addHandler(handler)
    logging.getLogger("rapidcare").setLevel(app.config["LOG_LEVEL"])

    @app.before_request
    def start_timer():
        g.request_started = time.perf_counter()

    @app.after_request
    def log_request(response):
        if not log.isEnabledFor(logging.INFO):
            return response
        # g and request resolved once each (every use of the proxies looks them up again)
        app_g, req = g._get_current_object(), request._get_current_object()
        started = app_g.get("request_started")
        duration_ms = round((time.perf_counter() - started) * 1000, 2) if started else None
        # Only if the view already loaded the caller: logging must not cost a query.
        user = app_g.get("_login_user")
        user_id = user.id if user is not None and user.is_authenticated else None
        rule = req.url_rule
        line = request_line(req.method, rule.rule if rule else None,
                            response.status_code, duration_ms, user_id)
        handler = _sole_handler(log)
        if handler is not None:
            handler.emit_line(line, logging.INFO)
        else:
            log.info(line)
        return response
