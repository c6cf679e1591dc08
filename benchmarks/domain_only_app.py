"""The service's read paths without its framework layers: the ceiling of issue #13 item 9.

A bare Flask app, like the baseline (benchmarks/baseline_app.py), whose views call the
service's own domain functions on the service's own SQLite database and return their
result encoded by orjson:

    GET /api/hospitals?q=                        app.hospitals.service.search
    GET /api/hospitals/<id>                      app.hospitals.service.detail
    GET /api/hospital-resources/<id>/<type>/availability
                                                 app.resources.service.availability
    GET /api/bookings/my-bookings                (bearer token) app.bookings.service.my_bookings

Same SQL, same row shaping, same decryption of patient fields; none of what the service
adds around them: flask-smorest's argument parsing and response wrappers, marshmallow's
dump, flask-login and the session, the request hooks (CSRF, API keys, access, the
request log line, metrics, checkpoints), the error handlers. Bad input is not handled
(a missing token is a 500): this app is a measuring stick, never a service.

Run by benchmarks/ceiling.py under gunicorn beside the baseline and the real service.
Configured exactly as the service (``create_app()`` reads the same RAPIDCARE_*
variables and sets up the encryption keys); only its views are served.
"""
import orjson
from flask import Flask, Response, request

from app import create_app
from app.auth.queries import get_user_by_token
from app.auth.session import _from_row  # the caller, as the service builds it
from app.auth.tokens import hash_token
from app.bookings import service as bookings
from app.db import connect
from app.hospitals import service as hospitals
from app.resources import service as resources
from app.timeutil import to_iso, utcnow

_service = create_app()  # the configuration and key ring the service would run with
app = Flask(__name__)
_connection = None


def _conn():
    """One connection per worker process, opened after gunicorn forks."""
    global _connection
    if _connection is None:
        _connection = connect(_service.config["DATABASE"])
    return _connection


def _json(value):
    return Response(orjson.dumps(value, default=str), mimetype="application/json")


@app.get("/ping")
def ping():
    return {"status": "ok"}


@app.get("/api/hospitals")
def search():
    items, total = hospitals.search(_conn(), q=request.args.get("q"), resource_type=None,
                                    min_available=None, limit=20, offset=0)
    return _json({"items": items, "total": total})


@app.get("/api/hospitals/<int:hospital_id>")
def detail(hospital_id):
    return _json(hospitals.detail(_conn(), hospital_id, None))


@app.get("/api/hospital-resources/<int:hospital_id>/<resource_type>/availability")
def availability(hospital_id, resource_type):
    return _json(resources.availability(_conn(), hospital_id, resource_type, None,
                                        now=utcnow()))


@app.get("/api/bookings/my-bookings")
def my_bookings():
    token = request.headers["Authorization"].removeprefix("Bearer ")
    row = get_user_by_token(_conn(), hash_token(token), to_iso(utcnow()))
    items, total = bookings.my_bookings(_conn(), actor=_from_row(row), limit=20, offset=0)
    return _json({"items": items, "total": total})
