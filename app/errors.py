"""Domain errors and their HTTP mapping, in ONE place.

Services raise these (never build responses); ``init_app`` turns them, and the
database's own refusals, into flask-smorest's error body:
``{"code": 409, "status": "Conflict", "message": "...", "errors": {...}}``.
"""
import logging
import sqlite3
from http import HTTPStatus

import marshmallow as ma
import psycopg
import psycopg_pool
from flask import jsonify
from flask_smorest.error_handler import ErrorSchema as SmorestErrorSchema
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class DomainError(Exception):
    code = 400

    def __init__(self, message=None, *, errors=None, headers=None, extra=None):
        super().__init__(message or HTTPStatus(self.code).phrase)
        self.message = message or HTTPStatus(self.code).phrase
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra or {}  # additional top-level body fields, e.g. 402's shortfall


class BadRequest(DomainError):
    code = 400


class Unauthorized(DomainError):
    code = 401


class PaymentRequired(DomainError):
    code = 402


class Forbidden(DomainError):
    code = 403


class NotFound(DomainError):
    """Missing, or not the caller's to see: the two are deliberately indistinguishable."""

    code = 404


class Conflict(DomainError):
    code = 409


class Unprocessable(DomainError):
    """Semantic validation that a schema cannot express (field-level ``errors``)."""

    code = 422


class UnsupportedMediaType(DomainError):
    code = 415


class TooManyRequests(DomainError):
    code = 429

    def __init__(self, message=None, *, retry_after, **kwargs):
        super().__init__(message, **kwargs)
        self.headers["Retry-After"] = str(max(1, int(retry_after)))


class ServiceUnavailable(DomainError):
    code = 503


class BadGateway(DomainError):
    code = 502


class ErrorSchema(SmorestErrorSchema):
    """The documented error body. Some errors add top-level fields (402's ``required``,
    ``balance`` and ``shortfall``; the 503 health answer's ``database``), so the
    published schema must allow them: with flask-smorest's default
    (additionalProperties: false) those real answers contradict the document."""

    class Meta:
        unknown = ma.INCLUDE


def error_body(code, message=None, errors=None, extra=None):
    body = {"code": code, "status": HTTPStatus(code).phrase}
    if message:
        body["message"] = message
    if errors:
        body["errors"] = errors
    if extra:
        body.update(extra)
    return body


def _respond(code, message=None, errors=None, headers=None, extra=None):
    response = jsonify(error_body(code, message, errors, extra))
    response.status_code = code
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def handle_domain_error(error):
    return _respond(error.code, error.message, error.errors, error.headers, error.extra)


def handle_integrity_error(error):
    # Constraints and trigger refusals (SQLite's RAISE(ABORT, …), PostgreSQL's RAISE
    # EXCEPTION … check_violation) back every invariant the code relies on; when one
    # fires, the request lost a race or broke a rule: a conflict, not a crash.
    log.info("integrity error mapped to 409: %s", error)
    message = _database_message(error)
    if isinstance(error, psycopg.Error) and (error.diag.constraint_name or error.sqlstate != "23514"):
        message = "The request conflicts with the current state of the resource."  # a named constraint
    elif "constraint failed" in message or "UNIQUE" in message:
        message = "The request conflicts with the current state of the resource."
    return _respond(409, message)


def _database_message(error):
    """The database's own sentence: PostgreSQL's primary message without its context lines."""
    if isinstance(error, psycopg.Error) and error.diag.message_primary:
        return error.diag.message_primary
    return str(error)


def handle_operational_error(error):
    if isinstance(error, psycopg.Error):
        return _handle_postgres_error(error)
    if "locked" in str(error) or "busy" in str(error):
        log.warning("database busy: %s", error)
        return _respond(503, "The database is busy; retry shortly.", headers={"Retry-After": "1"})
    log.exception("database error", exc_info=error)
    return _respond(500, "Internal server error")


def _handle_postgres_error(error):
    # psycopg's OperationalError covers a conflict that outlived its retries
    # (app/db/retry.py: serialization failure, deadlock), a lock or statement timeout
    # and a server gone: all "try again shortly".
    log.warning("database busy or unavailable: %s", _database_message(error))
    return _respond(503, "The database is busy; retry shortly.", headers={"Retry-After": "1"})


def handle_pool_timeout(error):
    log.warning("no database connection free: %s", error)
    return _respond(503, "The database is busy; retry shortly.", headers={"Retry-After": "1"})


def handle_http_exception(error):
    """Every werkzeug/webargs HTTP error (400, 404, 405, 413, 422 …) in the one body."""
    data = getattr(error, "data", None) or {}
    errors = data.get("errors") or data.get("messages")
    headers = dict(data.get("headers") or {})
    if error.code == 500:
        original = getattr(error, "original_exception", None)
        if original is not None:
            log.error("unhandled exception", exc_info=original)
        return _respond(500, "Internal server error")
    if error.code == 405:
        headers.update({k: v for k, v in error.get_headers() if k == "Allow"})
    message = data.get("message") or error.description
    return _respond(error.code, message, errors, headers)


def init_app(app):
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(sqlite3.IntegrityError, handle_integrity_error)
    app.register_error_handler(sqlite3.OperationalError, handle_operational_error)
    app.register_error_handler(psycopg.IntegrityError, handle_integrity_error)
    app.register_error_handler(psycopg.OperationalError, handle_operational_error)
    app.register_error_handler(psycopg_pool.PoolTimeout, handle_pool_timeout)
    app.register_error_handler(HTTPException, handle_http_exception)
