"""The private hooks app/extensions/ relies on still exist, with the signatures it assumes.

Each speed-up or tweak in app/extensions/ overrides or calls something its library
does not promise to keep. When an upgrade renames or drops one, an override would
silently stop being called (the speed-up vanishes, or the tweak's behaviour with
it) and a call would fail at request time. These tests fail first, naming what
depends on the hook.
"""
import inspect

import flask_login
import flask_smorest
import marshmallow as ma
import pytest
from flask import Flask
from flask.json.provider import DefaultJSONProvider
from flask.sessions import SecureCookieSessionInterface
from flask_smorest import pagination as smorest_pagination
from marshmallow.decorators import POST_DUMP, PRE_DUMP
from webargs import core as webargs_core
from webargs.flaskparser import FlaskParser

from app.extensions import api as ext_api
from app.extensions import dumping, login
from app.extensions import json as ext_json

pytestmark = pytest.mark.no_database

# (library class, hook, our override or None, its caller in the library or None, who needs it)
HOOKS = [
    (FlaskParser, "_get_schema", ext_api._SchemaReusingParser,
     webargs_core.Parser._prepare_for_parse,
     "the argument parser's one Schema instance per class (app/extensions/api.py)"),
    (FlaskParser, "_raw_load_json", ext_api._SchemaReusingParser, webargs_core.Parser.load_json,
     "JSON bodies through request.get_json, 415 for other content types (app/extensions/api.py)"),
    (flask_smorest.Blueprint, "_make_pagination_metadata", ext_api.Blueprint,
     smorest_pagination.PaginationMixin._set_pagination_metadata,
     "one PaginationMetadataSchema for every paginated response (app/extensions/api.py)"),
    # Ours takes **kwargs and forwards them; the keyword it sets is checked below.
    (flask_smorest.Api, "_init_spec", None, flask_smorest.Api.init_app,
     "the converter adding at_least_one_of and configured defaults to OpenAPI"),
    (flask_smorest.Api, "_register_error_handlers", ext_api.Api, flask_smorest.Api.init_app,
     "one error body from app/errors.py (flask-smorest's handlers must stay unregistered)"),
    (flask_smorest.Api, "_register_pagination_header", ext_api.Api,
     flask_smorest.Api._init_spec, "X-Pagination documented as JSON content"),
    (flask_login.LoginManager, "_session_protection_failed", login.LoginManager,
     flask_login.LoginManager._load_user,
     "bearer requests skip flask-login's session-protection hash (app/extensions/login.py)"),
    (SecureCookieSessionInterface, "open_session", login.CookieSessionInterface, None,
     "bearer requests skip building the cookie signer (app/extensions/login.py)"),
    (SecureCookieSessionInterface, "get_cookie_name", None, None,
     "CookieSessionInterface looks for the session cookie by Flask's name for it"),
    (DefaultJSONProvider, "_prepare_response_obj", None, DefaultJSONProvider.response,
     "OrjsonProvider.response builds the body as Flask's jsonify would (app/extensions/json.py)"),
    (ma.Schema, "_serialize", dumping.ResponseSchema, ma.Schema.dump,
     "ResponseSchema's direct dump of plain fields (app/extensions/dumping.py)"),
]


def _shape(function):
    """Parameter names and kinds; annotations and defaults may differ between versions."""
    return [(p.name, p.kind) for p in inspect.signature(function).parameters.values()]


@pytest.mark.parametrize("base, name, ours, caller, needed_by", HOOKS,
                         ids=[f"{h[0].__name__}.{h[1]}" for h in HOOKS])
def test_hook_exists_with_our_signature_and_is_still_called(base, name, ours, caller, needed_by):
    assert hasattr(base, name), f"{base.__module__}.{base.__qualname__}.{name} is gone: {needed_by}"
    if ours is not None:
        assert _shape(getattr(ours, name)) == _shape(getattr(base, name)), (
            f"{base.__qualname__}.{name} changed its signature to "
            f"{inspect.signature(getattr(base, name))}: {needed_by}")
    if caller is not None:
        assert f".{name}(" in inspect.getsource(caller), (
            f"{caller.__qualname__} no longer calls {name}: the override is dead code; {needed_by}")


def test_the_parser_really_reuses_one_schema_instance():
    built = []

    class Args(ma.Schema):
        n = ma.fields.Int()

        def __init__(self, *args, **kwargs):
            built.append(self)
            super().__init__(*args, **kwargs)

    parser = ext_api._SchemaReusingParser()
    app = Flask(__name__)
    for n in (1, 2):
        with app.test_request_context(f"/?n={n}"):
            assert parser.parse(Args, location="query") == {"n": n}
    assert len(built) == 1, "webargs no longer asks _get_schema for the Schema of a class"


def test_login_manager_tweak_keeps_flask_login_s_method_shape():
    # flask-login calls it as self._session_protection_failed() with no arguments.
    assert _shape(flask_login.LoginManager._session_protection_failed) == [
        ("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]


def test_orjson_provider_relies_on_flask_provider_internals():
    app = Flask(__name__)
    provider = ext_json.OrjsonProvider(app)
    # OrjsonProvider.response reads self._app for debug and response_class, as Flask's does.
    assert provider._app.response_class is app.response_class, (
        "JSONProvider._app is gone: OrjsonProvider.response needs the app")
    assert _shape(DefaultJSONProvider._prepare_response_obj) == [
        ("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        ("args", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        ("kwargs", inspect.Parameter.POSITIONAL_OR_KEYWORD),
    ], "OrjsonProvider.response calls self._prepare_response_obj(args, kwargs)"
    assert callable(DefaultJSONProvider.default), "OrjsonProvider passes dates to Flask's default"


def test_blueprint_doc_needs_no_blueprint():
    # with_doc (guards, idempotency, metrics) calls flask_smorest.Blueprint.doc unbound.
    assert isinstance(inspect.getattr_static(flask_smorest.Blueprint, "doc"), staticmethod), (
        "Blueprint.doc is no longer a staticmethod: app.extensions.api.with_doc needs a blueprint")

    def view():
        return "called"

    def wrapper():
        return view()

    documented = ext_api.with_doc(view, wrapper, security=[{"bearerAuth": []}])
    assert documented is wrapper and documented() == "called"
    assert documented._apidoc["manual_doc"] == {"security": [{"bearerAuth": []}]}, (
        "Blueprint.doc no longer stores its keywords where flask-smorest builds the operation")


def test_smorest_paginate_internals_our_blueprint_uses():
    blp = flask_smorest.Blueprint("hooks", __name__)
    default = ext_api.ConfigDefault("DEFAULT_PAGE_SIZE")

    @blp.paginate(page_size=default)
    def view(pagination_parameters):
        return []

    # _bound_page bounds `page` on the parameter schema flask-smorest keeps in _apidoc.
    schema = view._apidoc["pagination"]["parameters"]["schema"]
    assert issubclass(schema, ma.Schema), "flask-smorest moved the pagination parameter schema"
    assert isinstance(schema._declared_fields["page"], ma.fields.Integer), (
        "_bound_page needs the pagination schema's `page` field")
    # DEFAULT_PAGE_SIZE: the default page_size is handed to marshmallow as load_default,
    # which calls it when the request has no page_size.
    assert schema._declared_fields["page_size"].load_default is default, (
        "paginate(page_size=...) is no longer the field's load_default: DEFAULT_PAGE_SIZE unread")


def test_smorest_api_attributes_our_api_uses():
    app = Flask(__name__)
    app.config.update(API_TITLE="t", API_VERSION="1", OPENAPI_VERSION="3.0.3",
                      DEFAULT_PAGE_SIZE=20)
    assert "marshmallow_plugin" in inspect.signature(flask_smorest.Api._init_spec).parameters, (
        "Api._init_spec no longer takes marshmallow_plugin: our converter would not be used")
    api = ext_api.Api(app)
    assert api._app is app, "Api._init_spec reads the app's config through Api._app"
    assert isinstance(api.ma_plugin, ext_api._MarshmallowPlugin), (
        "_init_spec's marshmallow_plugin keyword no longer reaches Api.ma_plugin")
    assert isinstance(api.ma_plugin.converter, ext_api._Converter), (
        "MarshmallowPlugin.Converter is no longer the converter class it builds")
    # The pagination header component our _register_pagination_header replaces.
    assert "PAGINATION" in inspect.getsource(smorest_pagination) + inspect.getsource(
        flask_smorest.spec), "flask-smorest renamed the PAGINATION header component"
    # Our no-op must really leave flask-smorest's error handlers out.
    assert not app.error_handler_spec.get(None), "flask-smorest registered error handlers"


def test_marshmallow_internals_response_schema_uses():
    class NoHooks(ma.Schema):
        n = ma.fields.Int()

    # _kind reads nested._hooks[PRE_DUMP] / [POST_DUMP] on schemas with no hooks at all.
    assert NoHooks._hooks[PRE_DUMP] == [] and NoHooks._hooks[POST_DUMP] == [], (
        "Schema._hooks no longer answers [] for a hook-free schema: ResponseSchema._kind")
    schema = NoHooks()
    assert schema.dump_fields["n"].serialize("n", {"n": 3}, accessor=schema.get_attribute) == 3, (
        "Field.serialize(attr, obj, accessor=...) changed: ResponseSchema's fallback path")
    assert schema.dict_class is dict, "Schema.dict_class is what ResponseSchema builds rows in"
    field_attributes = {"dump_default", "attribute", "data_key"}
    assert field_attributes <= set(vars(ma.fields.Str())), (
        "Field attributes ResponseSchema's plan reads are gone")
    assert hasattr(ma.fields.Int(), "as_string")
    assert hasattr(ma.fields.List(ma.fields.Str()), "inner")
    assert ma.fields.Nested(NoHooks).schema.__class__ is NoHooks
