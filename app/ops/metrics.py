"""Prometheus metrics, correct across gunicorn's worker processes.

Each worker counts the requests it serves, so a counter kept in one worker's
memory would give each scrape the view of whichever worker answered it. We use
prometheus_client's multiprocess mode instead: every process writes its
counters into its own small memory-mapped file in one shared directory (an
in-memory write per request: no lock between workers, no database write), and
a scrape adds up every file in that directory.

The directory is ``METRICS_DIR`` (default ``<DATABASE>-metrics``). The gunicorn
master empties it at start (app/ops/server.py) and passes it to its workers as
PROMETHEUS_MULTIPROC_DIR; that variable must be set before the metrics are
created, hence the late imports below. Counters therefore count since the
service started, and keep counting across worker restarts (a dead worker's
file stays and is still summed).

Gauges about the database (size, bookings by status, last backup and job runs)
are read at scrape time, from the database, by the worker that answers.
"""
import logging
import os
import time

from flask import current_app, g, request
from flask_login import current_user

from app.errors import Forbidden, Unauthorized
from app.extensions.api import with_doc

log = logging.getLogger("rapidcare.metrics")

ENV_VAR = "PROMETHEUS_MULTIPROC_DIR"
KNOWN_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
# A request that came through a proxy is not a local scrape, even though the
# proxy itself connects from 127.0.0.1.
FORWARDING_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")
LOCAL_ADDRESSES = {"127.0.0.1", "::1"}
# The classic text format that generate_latest writes; every Prometheus version reads it.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_instruments = None


def metrics_dir(config):
    return config.get("METRICS_DIR") or f"{os.path.abspath(config['DATABASE'])}-metrics"


def reset_directory(config):
    """gunicorn master, before forking: a fresh directory for this run of the service."""
    directory = metrics_dir(config)
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        if name.endswith(".db"):
            os.unlink(os.path.join(directory, name))
    os.environ[ENV_VAR] = directory
    return directory


def _multiprocess_mode():
    from prometheus_client import values

    if values.ValueClass is values.MutexValue:
        # prometheus_client picks its value class when first imported; if that
        # happened before ENV_VAR was set, pick the multiprocess one as it would have.
        values.ValueClass = values.MultiProcessValue()


def multiprocess_counter(name, help_text, labels):
    """A counter summed over every process at scrape time (the slow queries, app/db/slow_queries.py)."""
    from prometheus_client import Counter

    _multiprocess_mode()
    return Counter(name, help_text, labels, registry=None)


def _instruments_for_this_process():
    """Create the request metrics once per process, in multiprocess mode."""
    global _instruments
    if _instruments is None:
        from prometheus_client import Counter, Histogram

        _multiprocess_mode()
        labels = ("method", "endpoint", "status")
        _instruments = (
            Counter("rapidcare_http_requests", "HTTP requests served", labels, registry=None),
            Histogram("rapidcare_http_request_duration_seconds",
                      "Time to serve an HTTP request", labels, registry=None),
        )
    return _instruments


# (method, endpoint, status) -> (counter, histogram) of those labels. prometheus_client
# keeps the same children, but finds them again on every call (labels() checks and
# converts the values and takes a lock): ~4 µs of every request (RESULTS.md §0d).
# Bounded as the labels are: methods, route patterns and statuses.
_children = {}


def _labelled(method, endpoint, status):
    key = (method, endpoint, status)
    children = _children.get(key)
    if children is None:
        requests_total, duration = _instruments_for_this_process()
        children = (requests_total.labels(*key), duration.labels(*key))
        _children[key] = children
    return children


def init_app(app):
    # A worker of a gunicorn master that set the directory keeps it; anything
    # else (flask run, the test suite) uses the configured one for the whole process.
    directory = os.environ.setdefault(ENV_VAR, metrics_dir(app.config))
    os.makedirs(directory, exist_ok=True)
    _instruments_for_this_process()


def record_request(response):
    """after_request: count the request and its duration, labelled by route pattern."""
    req = request._get_current_object()  # once: each use of the proxy looks it up again
    method = req.method if req.method in KNOWN_METHODS else "other"
    # The route pattern (/api/bookings/<int:booking_id>), never the raw path: bounded labels.
    endpoint = req.url_rule.rule if req.url_rule is not None else "unmatched"
    status = str(response.status_code)
    started = g.get("request_started")  # set by app.logging_setup's before_request
    try:
        count, duration = _labelled(method, endpoint, status)
        count.inc()
        if started is not None:
            duration.observe(time.perf_counter() - started)
    except OSError:
        # Metrics must never cost a request its answer (a full disk, a missing directory).
        log.warning("request metrics not recorded", exc_info=True)
    return response


def is_local_scrape():
    return (request.remote_addr in LOCAL_ADDRESSES
            and not any(header in request.headers for header in FORWARDING_HEADERS))


def local_scrape_or_admin(view):
    """Admins, or (when METRICS_ALLOW_LOCAL) an unproxied request from this host."""

    def wrapper(*args, **kwargs):
        if not (current_app.config["METRICS_ALLOW_LOCAL"] and is_local_scrape()):
            if not current_user.is_authenticated:
                raise Unauthorized("Authentication required.")
            if current_user.role != "admin":
                raise Forbidden("This action needs the role: admin.")
        return view(*args, **kwargs)

    # OpenAPI: the bearer token, or nothing at all (a local scrape).
    return with_doc(view, wrapper, security=[{"bearerAuth": []}, {}])


def render(gauges):
    """(body, content type) of a scrape: the request metrics of every process plus ``gauges``.

    The request counter and histogram are summed over every process's file in the
    metrics directory (labels ``method``, ``endpoint`` = the route pattern,
    ``status``). ``gauges`` is a list of ``(name, help, label names, {label
    values tuple: value})``; each becomes one gauge family. The body is the
    Prometheus text format (``CONTENT_TYPE``).
    """
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.multiprocess import MultiProcessCollector

    class Gauges:
        def collect(self):
            for name, help_text, label_names, samples in gauges:
                family = GaugeMetricFamily(name, help_text, labels=label_names)
                for label_values, value in samples.items():
                    family.add_metric(label_values, value)
                yield family

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=os.environ[ENV_VAR])
    registry.register(Gauges())
    return generate_latest(registry), CONTENT_TYPE
