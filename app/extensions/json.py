"""Flask's JSON provider, encoding with orjson.

Profiling hospital search showed 12-14 % of the request in the standard library's
JSON encoder; orjson does the same work several times faster. The output means
the same: types orjson would render differently from Flask (datetimes, dates,
dataclasses) are passed to Flask's own ``default``, so they come out exactly as
before, and anything orjson refuses (an integer beyond 64 bits) falls back to
the standard encoder instead of failing the request. Non-ASCII text is written
as UTF-8 rather than ``\\uXXXX`` escapes: the same JSON to any parser.

Request bodies are parsed here too, in ONE place (``request.get_json`` and the
webargs parser behind ``@blp.arguments`` both end in ``OrjsonProvider.loads``),
strictly, so hostile input is a 400 "Invalid JSON body: …" and never a 500:

- nesting deeper than MAX_JSON_DEPTH levels is refused. The standard parser
  recursed until RecursionError at about 1,000 levels; no body of this API is
  more than a few levels deep, and 100 keeps every later recursive step
  (marshmallow, the idempotency fingerprint) far below Python's limit;
- strings must be valid Unicode scalar values: a lone surrogate such as
  ``"\\ud800"`` is refused (accepted, it would reach bcrypt and sqlite3, which
  cannot encode it);
- numbers must fit a double: an integer literal beyond that (the standard
  parser's 4,300-digit limit raised ValueError) is refused; integers beyond
  64 bits arrive as floats, which every integer field bounds anyway;
- NaN, Infinity, a byte order mark and anything after the document are refused.
"""
import orjson
from flask import Request
from flask.json.provider import DefaultJSONProvider

from app.errors import BadRequest

# Deepest nesting of arrays/objects a request body may have (see above).
MAX_JSON_DEPTH = 100

_OPTIONS = (orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
            | orjson.OPT_PASSTHROUGH_DATACLASS)


class InvalidJSON(ValueError):
    """A body that is not JSON this service accepts; the message says why."""


def _deeper_than(value, limit):
    """Whether arrays/objects in ``value`` nest more than ``limit`` levels (iterative:
    the check itself must not recurse)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def parse_json_body(data):
    """The value of a JSON document (bytes or str), or InvalidJSON with the reason."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise InvalidJSON(str(error)) from None
    if isinstance(value, (dict, list)) and _deeper_than(value, MAX_JSON_DEPTH):
        raise InvalidJSON(f"nested deeper than {MAX_JSON_DEPTH} levels")
    return value


class JsonRequest(Request):
    """Flask's request, with a JSON parse error answered in the one error body and
    its real reason (Flask outside debug mode gives only a generic 400)."""

    def on_json_loading_failed(self, e):
        if e is None:  # not a JSON content type: werkzeug's 415 stands
            return super().on_json_loading_failed(e)
        raise BadRequest(f"Invalid JSON body: {e}")


class OrjsonProvider(DefaultJSONProvider):
    sort_keys = False

    def loads(self, s, **kwargs):
        if kwargs:  # a caller asking for the standard parser's options gets it
            return super().loads(s, **kwargs)
        return parse_json_body(s)

    def _encode(self, obj, option=_OPTIONS):
        try:
            return orjson.dumps(obj, default=self.default, option=option)
        except orjson.JSONEncodeError:
            return None

    def dumps(self, obj, **kwargs):
        if not kwargs:  # a caller asking for indent, separators, ... gets the standard encoder
            encoded = self._encode(obj)
            if encoded is not None:
                return encoded.decode()
        return super().dumps(obj, **kwargs)

    def response(self, *args, **kwargs):
        if self.compact is False or (self.compact is None and self._app.debug):
            return super().response(*args, **kwargs)  # indented, for people reading it
        encoded = self._encode(self._prepare_response_obj(args, kwargs),
                               _OPTIONS | orjson.OPT_APPEND_NEWLINE)
        if encoded is None:
            return super().response(*args, **kwargs)
        return self._app.response_class(encoded, mimetype=self.mimetype)
