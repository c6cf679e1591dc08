"""The flask-smorest Api, our Blueprint base class, and the ONE list of blueprints."""
import importlib
from functools import wraps

from flask import current_app
import flask_smorest
import marshmallow as ma
from flask_smorest.pagination import PaginationMetadataSchema
from flask_smorest.spec.plugins import integerconverter2paramschema
from webargs.flaskparser import FlaskParser
from werkzeug.routing import IntegerConverter

from app.errors import Unprocessable
from app.validation import SQLITE_MAX_INTEGER

from app.errors import ErrorSchema

# Every domain's blueprint, registered in this order. A new domain adds one line.
BLUEPRINT_MODULES = [
    "app.ops.routes",
    "app.auth.routes",
    "app.blood.routes",
    "app.bookings.routes",
    "app.hospitals.routes",
    "app.resources.routes",
    "app.pricing.routes",
    "app.admin.routes",
    "app.payments.routes",
    "app.wallet.routes",
    "app.reconciliation.routes",
]

# Bigger requests than this are a client error rather than a page of results.
HARD_MAX_PAGE_SIZE = 10_000
# Pages beyond this would push OFFSET out of SQLite's integer range (a 500).
HARD_MAX_PAGE = 1_000_000_000


class _SchemaReusingParser(FlaskParser):
    """webargs' parser, but one instance per argument Schema class, not one per request.

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


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint with the project's pagination defaults.

    ``page_size`` above RAPIDCARE_MAX_PAGE_SIZE is capped to it (and reported
    as such in X-Pagination); absurd values (page_size or page) are a 422.
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

    def paginate(self, pager=None, **kwargs):
        kwargs.setdefault("page_size", 20)
        kwargs.setdefault("max_page_size", HARD_MAX_PAGE_SIZE)
        smorest_paginate = super().paginate(pager, **kwargs)

        def decorator(func):
            @wraps(func)
            def capped(*args, pagination_parameters, **kw):
                if pagination_parameters.page > HARD_MAX_PAGE:
                    raise Unprocessable(
                        errors={"query": {"page": [f"Must be at most {HARD_MAX_PAGE}."]}}
                    )
                cap = int(current_app.config["MAX_PAGE_SIZE"])
                pagination_parameters.page_size = min(pagination_parameters.page_size, cap)
                return func(*args, pagination_parameters=pagination_parameters, **kw)

            return smorest_paginate(capped)

        return decorator


class Api(flask_smorest.Api):
    ERROR_SCHEMA = ErrorSchema

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


def init_app(app):
    api = Api(
        app,
        spec_kwargs={
            "info": {
                "description": "Hospital resource booking and payments. "
                "Authenticate with `POST /api/auth/login`, then send "
                "`Authorization: Bearer <token>`."
            }
        },
    )
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "opaque token"}
    )
    # Before any rule is added: rules resolve their converters when registered.
    app.url_map.converters["int"] = SqliteIntConverter
    api.register_converter(SqliteIntConverter, integerconverter2paramschema)
    for module_name in BLUEPRINT_MODULES:
        api.register_blueprint(importlib.import_module(module_name).blp)
    return api
