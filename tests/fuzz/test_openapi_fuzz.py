"""Schemathesis against the real service (gunicorn on a temporary database), as every role.

The operations come from the service's own OpenAPI document, so endpoints added
by any domain are fuzzed without touching this file. Each generated request
(valid and invalid data) must not produce a 5xx, and its response must match
what the document promises: status code, content type, headers and body schema.

The document is built from the app at import time (Schemathesis needs it while
pytest collects; the service is not up yet then), and the first test checks that
the running service publishes exactly the same document at /openapi.json.

An operation is not fuzzed as a role its guard refuses (anonymous on a secured
operation, a role the operation does not allow): the access check answers those
before the body or the query is read (only routing, Werkzeug's, sees the path), so
generated data never reaches a view. tests/test_auth_before_validation.py sends every such pair a
body that is no JSON and expects the 401 or 403. Every role an operation allows, and
anonymous callers of public operations, are fuzzed.

Phases: Schemathesis's coverage phase (boundary and invalid values derived from
each schema: it found the 72-byte password crash) plus RAPIDCARE_FUZZ_EXAMPLES
random examples per operation and role (default 15), valid and invalid alike.
About half a second per operation and role on this machine.
"""
import os
import re
import tempfile
from urllib.parse import urlsplit

import pytest
import requests
import schemathesis
from gunicorn.config import LimitRequestLine
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app import create_app
from app.auth.guards import allows
from app.config import TEST_OVERRIDES
from tests.factories import Factory
from tests.live_server import LiveServer
from tests.openapi_walk import guarded_operations

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("RAPIDCARE_FUZZ_EXAMPLES", "15"))
ROLES = ("anonymous", "user", "hospital-authority", "admin")


def no_server_error_but_documented_ones(ctx, response, case):
    """A 500 is always a bug; another 5xx only where the operation documents that
    status itself (a 502 when the payment gateway fails, a 503 for an unreachable
    database): those are honest answers about a dependency, not crashes."""
    status = response.status_code
    # (the coverage phase also probes methods the path does not have, e.g. TRACE)
    operation = SPEC["paths"][case.operation.path].get(case.method.lower(), {})
    documented = operation.get("responses", {})
    if status == 500 or (status > 500 and str(status) not in documented):
        raise AssertionError(
            f"{case.method} {case.operation.path} answered {status}, which it does not document: "
            f"{response.text[:300]}"
        )


def refused_by_gunicorn(response):
    """gunicorn itself answers 414 (in HTML) to a request line longer than its
    limit, before the app sees the request; Schemathesis can generate query
    strings that long. That answer is the HTTP server's, not the service's, so
    the document's promises are not checked against it (a 5xx would still be)."""
    target = urlsplit(response.request.url)
    request_line = f"{response.request.method} {target.path}?{target.query} HTTP/1.1"
    return response.status_code == 414 and len(request_line) > LimitRequestLine.default


def about_the_service(check):
    def checked(ctx, response, case):
        if refused_by_gunicorn(response):
            return None
        return check(ctx, response, case)

    checked.__name__ = check.__name__
    return checked


CHECKS = [
    no_server_error_but_documented_ones,
    *(about_the_service(check) for check in (
        status_code_conformance,
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
    )),
]


def _spec():
    """The OpenAPI document, and the roles each guarded operation allows
    ({(METHOD, path): roles}; no entry: unguarded; empty roles: any signed-in user)."""
    # a real path: extensions may keep files next to the database (never in the checkout)
    with tempfile.TemporaryDirectory() as scratch:
        app = create_app({**TEST_OVERRIDES, "DATABASE": os.path.join(scratch, "spec.sqlite3")})
        return app.test_client().get("/openapi.json").get_json(), guarded_operations(app)


SPEC, GUARDED = _spec()
schema = schemathesis.openapi.from_dict(SPEC, config=schemathesis.Config.from_dict({
    "seed": 20261121,  # reproducible runs; change it to explore elsewhere
    "generation": {"mode": "all", "max-examples": EXAMPLES},
    "phases": {"coverage": {"enabled": True}, "stateful": {"enabled": False}},
}))


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """The real service with one account of each role and a hospital to act on."""
    with LiveServer(tmp_path_factory.mktemp("fuzz"), workers=2) as server:
        conn = server.connect()
        make = Factory(conn)
        hospital = make.hospital(resources={"beds": 10, "icu": 2}, prices={"beds": 150000})
        server.accounts = {
            "user": make.user(),
            "hospital-authority": make.authority(hospital),
            "admin": make.admin(),
        }
        make.booking(server.accounts["user"], hospital)
        server.make = make
        yield server
        conn.close()


def refused_by_its_guard(method, path, role):
    if (method, path) not in GUARDED:
        return False
    return role == "anonymous" or not allows(GUARDED[(method, path)], role)


@pytest.fixture(autouse=True)
def _not_as_a_role_its_guard_refuses(request):
    """See the module's docstring."""
    named = re.search(r"\[([A-Z]+) ([^\]]+)\]\[([a-z-]+)\]$", request.node.name)
    if named and refused_by_its_guard(*named.groups()):
        pytest.skip("refused by its guard before its data is read: "
                    "tests/test_auth_before_validation.py")


def test_the_refused_roles_are_known():
    """The skip above reads the guards of the real routes: a guard it cannot see (a
    renamed attribute, paths that no longer match the document) must fail here."""
    assert GUARDED and set(path for _method, path in GUARDED) <= set(SPEC["paths"])
    assert refused_by_its_guard("GET", "/api/admin/hospitals", "user")
    assert not refused_by_its_guard("GET", "/api/admin/hospitals", "admin")
    assert refused_by_its_guard("GET", "/api/bookings/my-bookings", "anonymous")
    assert not refused_by_its_guard("GET", "/api/bookings/my-bookings", "user")
    assert not refused_by_its_guard("GET", "/api/hospitals", "anonymous")


def test_the_running_service_publishes_the_fuzzed_document(service):
    assert requests.get(service.url + "/openapi.json", timeout=10).json() == SPEC


@pytest.mark.parametrize("role", ROLES)
@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), max_examples=EXAMPLES)
def test_every_operation_conforms_as_every_role(case, service, role):
    # A fresh token per request: a fuzzed logout or password change must not turn
    # the rest of this role's run into anonymous requests.
    headers = {} if role == "anonymous" else service.make.auth(service.accounts[role])
    case.call_and_validate(base_url=service.url, headers=headers, checks=CHECKS, timeout=30)
