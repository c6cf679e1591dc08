"""The service with one SQLite connection opened (and closed) per request, for
benchmarks/leads.py only: the alternative app/db/ deliberately does not take.

app.db.get_db is replaced before create_app() imports the blueprints, which take
``get_db`` by name; everything else is the real application.
"""
from flask import current_app, g

import app.db as db_module

_reused_get_db = db_module.get_db


def get_db_per_request():
    conn = g.get("per_request_conn")
    if conn is None:
        conn = g.per_request_conn = db_module.connect_from_config(current_app.config)
    return conn


def close_per_request(exc=None):
    conn = g.pop("per_request_conn", None)
    if conn is not None:
        conn.close()


db_module.get_db = get_db_per_request

from app import create_app  # noqa: E402  (must come after the patch)

app = create_app()
app.teardown_appcontext(close_per_request)
