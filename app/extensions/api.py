"""flask-smorest's Api and Blueprint as this service uses them (see app/extensions/__init__.py).

``init_app`` builds the Api; create_app registers the blueprints from its one list.
"""
from functools import wraps

import flask_smorest
import marshmallow as ma
from apispec.ext.marshmallow import MarshmallowPlugin, OpenAPIConverter
from apispec.ext.marshmallow.common import resolve_schema_instance
from flask import current_app, request
from flask_smorest.pagination import PaginationMetadataSchema
from flask_smorest.spec.plugins import integerconverter2paramschema
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.routing import IntegerConverter

from app.errors import ErrorSchema, Unprocessable, UnsupportedMediaType
from app.validation import SQLITE_MAX_INTEGER, openapi_constraints

# Bigger requests than this are a client error rather than a page of results.
HARD_MAX_PAGE_SIZE = 10_000
# Pages beyond this would push OFFSET out of SQLite's integer range (a 500).
HARD_MAX_PAGE = 1_000_000_000


JSON_CONTENT_TYPE = "application/json"
BODY_REQUIRED = "A JSON body is required."


class _SchemaReusingParser(FlaskParser):
    """webargs' parser, but one instance per argument Schema class, not one per request,
    and JSON bodies read through ``request.get_json`` (see ``_raw_load_json``).

    flask-smorest hands webargs the Schema *class* of ``@blp.arguments(SomeSchema)``
    and of the pagination parameters, and webargs instantiates it on every request
    (about 0.05 ms each, measured: 2 per paginated read). A Schema instance holds no
    per-load state in marshmallow 4, so one instance per class serves every request.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._instances = {}

    def _get_schema(self, argmap, req):
        if isinstance(argmap, type) and issubclass(argmap, ma.Schema):
            schema = self._instances.get(argmap)
            if schema is None:
                schema = self._instances.setdefault(argmap, argmap())
            return schema
        return super()._get_schema(argmap, req)

    def _raw_load_json(self, req):
        """The JSON body of an operation that takes one.

        No body: nothing (the schema, and Blueprint.arguments' ``required``, decide).
        A body in another content type: 415 (webargs ignored it, and the schema then
        reported every field as missing). Otherwise the app's one JSON parser via
        ``request.get_json`` (app/extensions/json.py): refusals are a 400 "Invalid JSON
        body: <reason>" rather than webargs' fixed sentence.
        """
        if not req.get_data(cache=True):
            return core.missing
        if not is_json_request(req):
            raise UnsupportedMediaType(f"Expected Content-Type: {JSON_CONTENT_TYPE}")
        return req.get_json()


class ConfigDefault:
    """A field's ``load_default`` read from the app's config when the value is absent
    (marshmallow calls a callable default); the OpenAPI document states the value
    configured for the app it describes (``Api._init_spec``)."""

    def __init__(self, key):
        self.key = key

    def __call__(self):
        return current_app.config[self.key]

    def __repr__(self):
        return f"ConfigDefault({self.key!r})"


def with_doc(view, wrapper, **doc):
    """Finish a view decorator: ``wrapper`` (which calls ``view``) documented like ``view``
    plus ``doc``, merged as ``@blp.doc(**doc)`` merges it.

    For decorators that have no blueprint at hand (guards, idempotency, metrics):
    ``flask_smorest.Blueprint.doc`` is a staticmethod, so it needs none. Stacked as a
    decorator, its own wrapper would add a call per request (~2 us, measured); here it
    documents ``view`` only, and ``wrapper`` takes that documentation over as it does
    any decorated view's (functools.update_wrapper copies the function's attributes).
    """
    documented = flask_smorest.Blueprint.doc(**doc)(view)
    return wraps(documented)(wrapper)


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint with the project's pagination defaults and
    required JSON bodies enforced (``arguments``).

    Without ``page_size`` a page has RAPIDCARE_DEFAULT_PAGE_SIZE items; a ``page_size``
    above RAPIDCARE_MAX_PAGE_SIZE is capped to it (and reported as such in
    X-Pagination); absurd values (page_size or page) are a 422.
    """

    ARGUMENTS_PARSER = _SchemaReusingParser()
    PAGINATION_ARGUMENTS_PARSER = _SchemaReusingParser()
    # flask-smorest builds a new PaginationMetadataSchema for every paginated response
    # (field deep-copies included: 8 % of a my-bookings request, profiled); one serves all.
    _PAGINATION_METADATA_SCHEMA = PaginationMetadataSchema()

    @classmethod
    def _make_pagination_metadata(cls, page, page_size, item_count):
        metadata = {"total": item_count, "total_pages": 0}
        if item_count:  # the same fields flask-smorest computes
            last_page = (item_count - 1) // page_size + 1
            metadata.update(total_pages=last_page, first_page=1, last_page=last_page)
            if page <= last_page:
                metadata["page"] = page
                if page > 1:
                    metadata["previous_page"] = page - 1
                if page < last_page:
                    metadata["next_page"] = page + 1
        return cls._PAGINATION_METADATA_SCHEMA.dump(metadata)

    def arguments(self, schema, *, location="json", required=True, **kwargs):
        """flask-smorest's ``arguments``; for a JSON body, ``required`` (the default) is
        also enforced, where flask-smorest only documents it: a request without a
        body is a 422 before the schema sees an empty one (an all-optional schema
        would accept it). Pass ``required=False`` for an optional body."""
        smorest_arguments = super().arguments(
            schema, location=location, required=required, **kwargs
        )
        if location != "json" or not required:
            return smorest_arguments

        def decorator(func):
            parsing_view = smorest_arguments(func)

            @wraps(parsing_view)
            def view(*args, **kw):
                if not request.get_data(cache=True):
                    raise Unprocessable(BODY_REQUIRED, errors={"json": {"_schema": [BODY_REQUIRED]}})
                return parsing_view(*args, **kw)

            return view

        return decorator

    def paginate(self, pager=None, **kwargs):
        # Blueprints are decorated at import, before any app or config exists: the
        # default page size is looked up when a request leaves page_size out.
        kwargs.setdefault("page_size", ConfigDefault("DEFAULT_PAGE_SIZE"))
        kwargs.setdefault("max_page_size", HARD_MAX_PAGE_SIZE)
        smorest_paginate = super().paginate(pager, **kwargs)

        def decorator(func):
            @wraps(func)
            def capped(*args, pagination_parameters, **kw):
                cap = int(current_app.config["MAX_PAGE_SIZE"])
                pagination_parameters.page_size = min(pagination_parameters.page_size, cap)
                return func(*args, pagination_parameters=pagination_parameters, **kw)

            view = smorest_paginate(capped)
            _bound_page(view._apidoc["pagination"]["parameters"]["schema"])
            return view

        return decorator


def _bound_page(pagination_schema):
    """Give flask-smorest's ``page`` parameter the upper bound HARD_MAX_PAGE.

    flask-smorest builds one parameter schema class per paginated view with only
    ``minimum: 1`` on ``page``. Bounding the field itself makes the parser refuse
    a larger page (422) and the OpenAPI document state ``maximum``: one rule.
    """
    page = pagination_schema._declared_fields["page"]
    page.validators = [ma.validate.Range(min=1, max=HARD_MAX_PAGE)]


class _Converter(OpenAPIConverter):
    """apispec's converter, adding what a schema enforces beyond its fields
    (``at_least_one_of``, app.validation) to the schema's JSON Schema."""

    def schema2jsonschema(self, schema):
        jsonschema = super().schema2jsonschema(schema)
        jsonschema.update(openapi_constraints(resolve_schema_instance(schema)))
        return jsonschema


class _MarshmallowPlugin(MarshmallowPlugin):
    Converter = _Converter


class Api(flask_smorest.Api):
    ERROR_SCHEMA = ErrorSchema

    def _init_spec(self, **kwargs):
        kwargs.setdefault("marshmallow_plugin", _MarshmallowPlugin())
        super()._init_spec(**kwargs)
        config = self._app.config

        def field2config_default(converter, field, **_kwargs):
            """apispec documents no default for a callable one; state the configured value."""
            if isinstance(field.load_default, ConfigDefault):
                return {"default": config[field.load_default.key]}
            return {}

        self.ma_plugin.converter.add_attribute_function(field2config_default)

    def _register_error_handlers(self):
        """Error handlers live in app.errors (one place for every error body)."""

    def _register_pagination_header(self):
        """X-Pagination carries JSON. flask-smorest documents it with a bare object
        ``schema``, which OpenAPI 3 reads as the "simple" style (``page,1,total,40``),
        so every real header contradicted the document; ``content`` says JSON."""
        self.spec.components.header("PAGINATION", {
            "description": "Pagination metadata (JSON)",
            "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/PaginationMetadata"}}},
        }, lazy=True)


class SqliteIntConverter(IntegerConverter):
    """``<int:…>`` bounded to SQLite's INTEGER range.

    sqlite3 raises OverflowError (a 500) for a larger Python int; with this
    bound such a path simply matches no route: a 404 like any unknown id.
    """

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", SQLITE_MAX_INTEGER)
        super().__init__(map, *args, **kwargs)


def page_bounds(pagination_parameters):
    """(limit, offset) for SQL from flask-smorest's pagination parameters."""
    return pagination_parameters.page_size, pagination_parameters.first_item


# The rules every operation shares; each operation's own are in its description.
API_DESCRIPTION = """Hospital resource booking and payments.

**Authentication.** `POST /api/auth/login`, then send `Authorization: Bearer <token>`. The
login also starts a cookie session; cookie-authenticated POST/PUT/PATCH/DELETE requests send
the login's `csrfToken` in `X-CSRF-Token`. A protected operation answers 401 (not logged in),
then 403 (role not allowed), before it looks at the body. Objects the caller may not see are
404, never 403. A hospital's systems use an API key instead (`Authorization: Bearer rc_…`,
created by its staff at `POST /api/hospitals/my-hospital/api-keys`): it may only read and set
its hospital's resource counts and read its pending queue and booking list; anything else is
403, a revoked or unknown key 401; rate limited per key (429 with `Retry-After`).

**Request bodies** are JSON (`Content-Type: application/json`, else 415). Malformed JSON,
nesting deeper than 100 levels, numbers beyond a double, lone surrogates, `NaN` or a byte
order mark are a 400 whose `message` says why. An operation whose body is marked required
answers 422 without one; an update that would change nothing (`{}`) is a 422 too. Query
strings ignore unknown keys.

**Money** is a decimal string with two decimals (`"1500.00"`) with its `currency`; more
decimals, zero, negative amounts (but for an admin's signed wallet adjustment), `NaN`,
infinities or absurd sizes are a 422. Times are ISO-8601; a time sent must carry its UTC
offset.

**Idempotency.** Payments, top-ups, refunds, write-offs and wallet adjustments require an
`Idempotency-Key` header (1-255 visible ASCII characters; else 400). A key is scoped to the
user and the operation and remembered for IDEMPOTENCY_KEY_TTL_HOURS. The first request runs
and its answer (a success, a 4xx refusal or a 502) is stored; the same key with the same body
replays it with `Idempotent-Replayed: true` and no second effect; with another body it is a
409; while the first still runs, a 409 with `Retry-After`. A 422 is answered before the key
is claimed. After fixing a refusal's cause (e.g. a top-up after a 402), send a new key.

**Lists** are paginated with `page` and `page_size` (default and maximum set by the
operator); the `X-Pagination` header gives the totals.
"""


def init_app(app):
    """The Api, its security scheme and the bounded ``int`` converter; blueprints come after."""
    api = Api(
        app,
        spec_kwargs={
            "info": {"description": API_DESCRIPTION}
        },
    )
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "opaque token"}
    )
    # Before any rule is added: rules resolve their converters when registered.
    app.url_map.converters["int"] = SqliteIntConverter
    api.register_converter(SqliteIntConverter, integerconverter2paramschema)
    return api
