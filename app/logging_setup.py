"""Structured request logging: one JSON line per request.

Only method, route pattern, status, duration and user id are logged: never
bodies, query strings, headers, tokens, passwords or patient details.
"""
import json
import logging
import sys
import time

from flask import g, request

log = logging.getLogger("rapidcare.request")


def init_app(app):
    if not logging.getLogger("rapidcare").handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logging.getLogger("rapidcare").addHandler(handler)
    logging.getLogger("rapidcare").setLevel(app.config["LOG_LEVEL"])

    @app.before_request
    def start_timer():
        g.request_started = time.perf_counter()

    @app.after_request
    def log_request(response):
        if not log.isEnabledFor(logging.INFO):
            return response  # building the line costs a json.dumps per request
        started = g.get("request_started")
        duration_ms = round((time.perf_counter() - started) * 1000, 2) if started else None
        # Only if the view already loaded the caller: logging must not cost a query.
        user = g.get("_login_user")
        user_id = user.id if user is not None and user.is_authenticated else None
        log.info(json.dumps({
            "method": request.method,
            "route": request.url_rule.rule if request.url_rule else None,
            "status": response.status_code,
            "duration_ms": duration_ms,
            "user_id": user_id,
        }))
        return response
