"""The request log line and the buffered handler that writes it (app/logging_setup.py)."""
import io
import json
import logging

import pytest
import requests

from app.logging_setup import MESSAGE_ONLY, BufferedStreamHandler, _sole_handler, request_line
from tests.live_server import LiveServer

DETAIL_ROUTE = "/api/hospitals/<int:hospital_id>"


@pytest.mark.parametrize("method, route, status, duration_ms, user_id", [
    ("GET", "/api/health", 200, 0.12, None),
    ("POST", "/api/bookings", 201, 12.0, 7),
    ("GET", None, 404, None, None),
    ("PUT", DETAIL_ROUTE, 500, 1234.56, 123456789012),
    ("GET", '/odd/"quoted"/back\\slash/\t/ünï/<int:x>', 200, 0.01, 3),
    ("DELETE", "/api/x", 204, 1e-05, 0),
    ("GET", "/api/x", 200, 1e20, 1),
])
def test_request_line_is_the_json_dumps_of_the_dict(method, route, status, duration_ms, user_id):
    expected = json.dumps({"method": method, "route": route, "status": status,
                           "duration_ms": duration_ms, "user_id": user_id})
    assert request_line(method, route, status, duration_ms, user_id) == expected


def test_request_line_of_other_value_types_is_still_what_json_dumps_makes():
    assert request_line("GET", "/x", 200, 2, "u-1") == json.dumps(
        {"method": "GET", "route": "/x", "status": 200, "duration_ms": 2, "user_id": "u-1"})


def _logger(handler, name):
    log = logging.getLogger(f"test_logging_setup.{name}")
    log.propagate = False
    log.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    return log


def test_buffered_lines_are_written_on_flush_and_close_in_order():
    stream = io.StringIO()
    handler = BufferedStreamHandler(stream, interval=3600)
    log = _logger(handler, "order")
    for i in range(5):
        log.info("line %d", i)
    assert stream.getvalue() == ""  # buffered: no write per line
    handler.flush()
    assert stream.getvalue() == "".join(f"line {i}\n" for i in range(5))
    log.info("last")
    log.removeHandler(handler)
    handler.close()
    assert stream.getvalue().endswith("line 4\nlast\n")


def test_a_warning_or_a_full_buffer_writes_at_once():
    stream = io.StringIO()
    handler = BufferedStreamHandler(stream, interval=3600, max_bytes=100)
    log = _logger(handler, "levels")
    log.info("quiet")
    log.warning("loud")
    assert stream.getvalue() == "quiet\nloud\n"
    for _ in range(12):
        log.info("0123456789")  # the 10th line fills 100 bytes
    assert stream.getvalue() == "quiet\nloud\n" + "0123456789\n" * 10
    log.removeHandler(handler)
    handler.close()
    assert stream.getvalue() == "quiet\nloud\n" + "0123456789\n" * 12


def _service_like_logger(name):
    """A logger set up as init_app sets up "rapidcare", outside pytest's root handlers."""
    log = logging.Logger(f"test_logging_setup.{name}")  # no parent: nothing above it
    handler = BufferedStreamHandler(io.StringIO(), interval=3600)
    handler.setFormatter(MESSAGE_ONLY)
    log.addHandler(handler)
    return log, handler


def test_the_request_log_goes_around_logging_only_to_the_services_own_handler():
    log, handler = _service_like_logger("sole")
    assert _sole_handler(log) is handler
    child = logging.Logger("child")
    child.parent = log
    assert _sole_handler(child) is handler  # as "rapidcare.request" reaches "rapidcare"

    log.addFilter(lambda record: True)
    assert _sole_handler(child) is None  # a filter must see the record
    log.filters.clear()
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    assert _sole_handler(child) is None  # the line would not be the message alone
    handler.setFormatter(MESSAGE_ONLY)
    handler.setLevel(logging.WARNING)
    assert _sole_handler(child) is None
    handler.setLevel(logging.NOTSET)
    child.addHandler(logging.NullHandler())
    assert _sole_handler(child) is None  # another handler (pytest's caplog, an operator's)
    child.handlers.clear()
    assert _sole_handler(child) is handler
    child.propagate = False
    assert _sole_handler(child) is None  # the record would reach no handler at all

    previous = logging.getLogRecordFactory()
    logging.setLogRecordFactory(lambda *args, **kwargs: previous(*args, **kwargs))
    try:
        assert _sole_handler(log) is None  # a custom record factory must see the record
    finally:
        logging.setLogRecordFactory(previous)


def test_a_line_written_around_logging_is_the_line_logging_writes():
    log, handler = _service_like_logger("same")
    line = request_line("GET", "/api/x", 200, 1.5, None)
    log.info(line)
    handler.emit_line(line, logging.INFO)
    handler.emit_line("urgent", logging.WARNING)  # a warning writes at once, as through logging
    assert handler.stream.getvalue() == f"{line}\n{line}\nurgent\n"


@pytest.mark.slow
def test_no_request_line_is_lost_when_gunicorn_workers_stop(tmp_path):
    # logging as deployed (INFO), several workers each holding lines in its buffer
    server = LiveServer(tmp_path, workers=3, log_level=None)
    with server:
        for i in range(60):
            assert requests.get(f"{server.url}/api/hospitals/{900 + i}", timeout=10).status_code == 404
    assert server.process.returncode == 0  # a graceful stop, not the kill after the timeout
    lines = [json.loads(line) for line in server.log_text().splitlines() if line.startswith("{")]
    detail = [line for line in lines if line["route"] == DETAIL_ROUTE]
    assert len(detail) == 60
    assert {(line["method"], line["status"], line["user_id"]) for line in detail} == {("GET", 404, None)}
