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
request with 503 and Retry-After, and the client retries. One exception: an
idempotent request (app/payments/idempotency.py) has committed its claim first, and
runs its view again under that claim itself, which is safe by the claim's design (an
effect committed under it is found and answered from, never made twice). Whatever the view did before the conflict that
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


def pause(attempt):
    """Before attempt ``attempt + 1``: a few ms, doubling up to 16x, randomised so the losers
    of one conflict do not meet again; enough for the winner to commit, short beside a
    request (twenty attempts wait about 1.4 s in all at most)."""
    time.sleep(random.uniform(0.001, 0.005) * min(2 ** (attempt - 1), 16))


def run_again_after_conflicts(run, attempts, *, may_retry=lambda: True, what="request"):
    """``run()``, run again after a serialization conflict while ``may_retry()`` allows and
    attempts remain; then the conflict becomes a 503."""
    from app.errors import ServiceUnavailable

    for attempt in range(1, attempts + 1):
        try:
            return run()
        except Exception as error:
            if not postgres.is_retryable(error):
                raise
            allowed = may_retry()
            if not allowed or attempt == attempts:
                log.warning("serialization conflict, %s not run again (attempt %d%s): %s", what,
                            attempt, "" if allowed else ", it committed already", type(error).__name__)
                raise ServiceUnavailable("The database is busy; retry shortly.",
                                         headers={"Retry-After": "1"}) from error
            log.info("serialization conflict, running the %s again (attempt %d)", what, attempt)
            pause(attempt)


def run_before_the_view(conn, run, config, *, what):
    """``run()``, a transaction of a before_request hook, run again after conflicts like
    any other. Its commit does not count as the request's (the commit count decides
    whether the view may be run again): after a conflict only the view is dispatched
    again (dispatch_with_retries), never the hooks, so this commit is never repeated."""
    commits = getattr(conn, "commits", None)
    result = run_again_after_conflicts(run, attempts(config), what=what)
    if commits is not None:
        conn.commits = commits
    return result


def attempts(config):
    return max(1, int(config["POSTGRES_RETRIES"]) + 1)


def dispatch_with_retries(app, dispatch):
    from app.db import current_connection

    def committed_nothing():
        conn = current_connection()
        return conn is None or getattr(conn, "commits", 0) == 0

    return run_again_after_conflicts(dispatch, attempts(app.config), may_retry=committed_nothing)


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
