"""Regression tests for what the fuzzer found (one test per finding, fast: test client)."""
import json

import jsonschema_rs

from app.errors import error_body
from tests.factories import PASSWORD

LONG_PASSWORD = "ü" * 40  # 80 bytes: past bcrypt's 72-byte limit, inside the schema's 1024


def test_login_with_a_password_longer_than_bcrypt_reads_is_401_not_500(client, make):
    """bcrypt 5 raises ValueError for > 72 bytes; login answered 500."""
    user = make.user()
    for email in (user["email"], "nobody@example.test"):
        response = client.post("/api/auth/login", json={"email": email, "password": LONG_PASSWORD})
        assert response.status_code == 401
        assert response.json["message"] == "Invalid email or password."


def test_change_password_with_an_overlong_current_password_is_422_not_500(client, make):
    user = make.user()
    response = client.put("/api/auth/change-password", headers=make.auth(user),
                          json={"currentPassword": LONG_PASSWORD, "newPassword": "another-pass-1"})
    assert response.status_code == 422
    assert "currentPassword" in response.json["errors"]
    # and the real password still works
    assert client.post("/api/auth/login",
                       json={"email": user["email"], "password": PASSWORD}).status_code == 200


def test_published_error_schema_accepts_error_bodies_with_extra_fields(client):
    """402 (required/balance/shortfall) and the 503 health answer (database) add
    top-level fields; the documented Error schema used to forbid any."""
    spec = client.get("/openapi.json").json
    validator = jsonschema_rs.validator_for(
        {**spec["components"]["schemas"]["Error"], "components": spec["components"]}
    )
    assert validator.is_valid(error_body(402, "Insufficient balance.", extra={
        "required": "1500.00", "balance": "100.00", "shortfall": "1400.00"}))
    assert validator.is_valid(error_body(503, "Database unreachable.", extra={"database": "unreachable"}))
    assert not validator.is_valid({"code": "not a number"})


def test_pagination_header_is_documented_as_the_json_it_is():
    """X-Pagination holds JSON, but flask-smorest documented it as a bare object schema
    (OpenAPI's "simple" style): Schemathesis failed every paginated list's headers."""
    import marshmallow as ma
    import schemathesis
    from flask import Flask
    from flask.views import MethodView
    from schemathesis.specs.openapi.checks import response_headers_conformance

    from app.extensions import api as api_module

    app = Flask(__name__)
    app.config.update(API_TITLE="t", API_VERSION="1", OPENAPI_VERSION="3.0.3",
                      OPENAPI_URL_PREFIX="/", OPENAPI_JSON_PATH="openapi.json", MAX_PAGE_SIZE=100,
                      DEFAULT_PAGE_SIZE=20)
    api = api_module.Api(app)
    blp = api_module.Blueprint("things", __name__, url_prefix="/things")

    class ThingSchema(ma.Schema):
        n = ma.fields.Int()

    @blp.route("")
    class Things(MethodView):
        @blp.response(200, ThingSchema(many=True))
        @blp.paginate()
        def get(self, pagination_parameters):
            pagination_parameters.item_count = 45
            limit, offset = api_module.page_bounds(pagination_parameters)
            return [{"n": i} for i in range(offset, min(offset + limit, 45))]

    api.register_blueprint(blp)
    header = app.test_client().get("/openapi.json").json["components"]["headers"]["PAGINATION"]
    assert "application/json" in header["content"] and "schema" not in header

    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    operation = schema["/things"]["GET"]
    case = operation.Case(query={"page": 2, "page_size": 20})
    response = case.call_and_validate(checks=[response_headers_conformance])
    assert response.status_code == 200
    assert json.loads(response.headers["x-pagination"][0])["page"] == 2
