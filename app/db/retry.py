"""PostgreSQL only: a request that lost a serialization conflict runs again.

Write transactions on PostgreSQL are SERIALIZABLE (app/db/postgres.py). When two
of them really conflict (two approvals taking the last bed, two payments from one
wallet) PostgreSQL lets one commit and aborts the other with a serialization
failure or a deadlock error. A ``with transaction(conn):`` block cannot be run
again by itself, so the whole request is: its view is dispatched again, from the
start, up to POSTGRES_RETRIES times with a short randomised pause.

That is only safe while the request has committed nothing: its earlier work would
otherwise be done twice. A request connection counts its commits (a new count per
borrowed connection, so per request); once one has committed, a conflict ends the
request with 503 and Retry-After, and the client retries (payments carry an
Idempotency-Key for exactly this). Whatever the view did before the conflict that
is not in the database (a gateway call) happens again on the retry: the views
whose first commit follows a gateway call only ask the gateway questions
(validation), which are safe to repeat.
"""
import logging
import random
import time

from flask import Flask

from app.db import postgres

log = logging.getLogger("app.db")


def dispatch_with_retries(app, dispatch):
    from app.db import current_connection
    from app.errors import ServiceUnavailable

    attempts = max(1, int(app.config["POSTGRES_RETRIES"]) + 1)
    for attempt in range(1, attempts + 1):
        try:
            return dispatch()
        except Exception as error:
            if not postgres.is_retryable(error):
                raise
            conn = current_connection()
            committed = conn is not None and getattr(conn, "commits", 0) > 0
            if committed or attempt == attempts:
                log.warning("serialization conflict, not retried (attempt %d, committed=%s): %s",
                            attempt, committed, type(error).__name__)
                raise ServiceUnavailable("The database is busy; retry shortly.",
                                         headers={"Retry-After": "1"}) from error
            log.info("serialization conflict, retrying the request (attempt %d)", attempt)
            # 1-10 ms, doubling: enough for the winner to commit, short beside a request.
            time.sleep(random.uniform(0.001, 0.005) * (2 ** (attempt - 1)))


class RetryingFlask(Flask):
    """Flask whose dispatch runs a request again after a serialization conflict
    (PostgreSQL only; on SQLite writers never conflict, they wait)."""

    def dispatch_request(self):
        if not self.config.get("DATABASE_URL"):
            return super().dispatch_request()
        return dispatch_with_retries(self, super().dispatch_request)


def init_app(app):
    if not isinstance(app, RetryingFlask):
        raise RuntimeError("the app must be a RetryingFlask (app/__init__.py)")
