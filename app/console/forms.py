"""Form fields through the API's own request schemas: a console form obeys exactly
the rules of the API operation it stands for, and a refusal reads as a sentence."""
import marshmallow as ma
from flask import flash

from app.errors import DomainError, NotFound
from app.validation import camelcase

# A whole number of more digits than this is out of every range we accept anyway;
# checked before int() (which refuses over 4,300 digits with a ValueError of its own).
MAX_DIGITS = 18


class FormError(Exception):
    """The form's values are refused; ``message`` says why, for the page."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


def _label(field):
    return camelcase(field).replace("_", " ")


def _flatten(messages, prefix=""):
    """marshmallow's or a domain error's {field: [message]} as "field: message" lines."""
    if isinstance(messages, dict):
        lines = []
        for field, inner in messages.items():
            name = "" if field in ("json", "_schema", "form") else _label(field)
            lines += _flatten(inner, f"{prefix}{name}: " if name else prefix)
        return lines
    if isinstance(messages, (list, tuple)):
        return [line for inner in messages for line in _flatten(inner, prefix)]
    return [f"{prefix}{messages}"]


def load(schema, form, *, whole_numbers=(), texts=()):
    """The schema's result for the form's fields; blank fields count as not sent.

    :raise FormError: a field is not a whole number, or the schema refuses the values.
    """
    data = {}
    for field in whole_numbers:
        raw = (form.get(field) or "").strip()
        if not raw:
            continue
        if not (raw.isascii() and raw.isdigit() and len(raw) <= MAX_DIGITS):
            raise FormError(f"{_label(field)}: must be a whole number, 0 or more.")
        data[field] = int(raw)
    for field in texts:
        raw = form.get(field)
        if raw is not None and raw.strip():
            data[field] = raw
    try:
        return schema.load(data)
    except ma.ValidationError as error:
        raise FormError("; ".join(_flatten(error.messages))) from None


def describe(error):
    """A domain error (app/errors.py) as one sentence for the page."""
    details = _flatten(error.errors) if error.errors else []
    return " ".join([error.message, *details]) if details else error.message


def attempt(action):
    """Run a form's action: its result, or None once a refusal (a refused form, a 409,
    a 422 ...) is flashed for the page it returns to. A 404 stays a 404 page: the
    object is not the caller's to act on."""
    try:
        return action()
    except FormError as error:
        flash(error.message, "error")
    except NotFound:
        raise
    except DomainError as error:
        flash(describe(error), "error")
    return None
