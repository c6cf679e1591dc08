"""Protected operations answer 401 before looking at the body (issue #12, item 10).

Table-driven over the OpenAPI document: every operation that documents the bearer
token, sent anonymously with a body that is no JSON at all, must be a 401 (it used
to be the 400/422 of parsing and validating that body); and every guarded operation,
sent the same by each signed-in role its guard does not allow, a 403. The fuzz test
(tests/fuzz) leaves these pairs to this table: they never reach the body.
"""
import pytest

from app.auth.guards import allows
from tests.openapi_walk import concrete, guarded_operations, operations

GARBAGE = b"{this is not json"


@pytest.fixture
def protected_operations(client):
    found = list(operations(client.get("/openapi.json").json, lambda op: op.get("security")))
    assert len(found) > 40  # the walk found the API, not an empty document
    return found


@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
def test_every_protected_operation_answers_an_anonymous_garbage_body_with_401(
        client, protected_operations, content_type):
    for method, path in protected_operations:
        response = client.open(concrete(path), method=method, data=GARBAGE,
                               headers={"Content-Type": content_type},
                               environ_base={"REMOTE_ADDR": "203.0.113.9"})  # not a local scrape
        assert response.status_code == 401, (method, path, response.status_code, response.json)
        assert response.json == {"code": 401, "status": "Unauthorized",
                                 "message": "Authentication required."}


def test_an_expired_or_unknown_token_is_401_before_the_body(client):
    response = client.put("/api/auth/profile", data=GARBAGE, content_type="application/json",
                          headers={"Authorization": "Bearer not-a-real-token"})
    assert response.status_code == 401


def test_wrong_role_is_403_before_the_body(client, make):
    """Authenticated but not allowed: 403, whatever the body (403 before 400/422)."""
    response = client.put("/api/admin/payment-config", data=GARBAGE, content_type="application/json",
                          headers=make.auth(make.user()))
    assert response.status_code == 403


def test_right_role_then_gets_the_body_checked(client, make):
    response = client.put("/api/admin/payment-config", data=GARBAGE, content_type="application/json",
                          headers=make.auth(make.admin()))
    assert response.status_code == 400
    assert response.json["message"].startswith("Invalid JSON body: ")


def test_every_guarded_operation_answers_each_role_it_refuses_with_403_before_the_body(
        app, client, make):
    callers = {"user": make.user(), "hospital-authority": make.authority(make.hospital()),
               "admin": make.admin()}
    headers = {role: make.auth(user) for role, user in callers.items()}
    refused = [(method, path, role)
               for (method, path), roles in guarded_operations(app).items()
               if method not in ("HEAD", "OPTIONS")  # HEAD: no body to read the answer from
               for role in callers if not allows(roles, role)]
    assert len(refused) > 40  # the walk found the guards, not an empty map
    for method, path, role in refused:
        response = client.open(concrete(path), method=method, data=GARBAGE,
                               headers={**headers[role], "Content-Type": "application/json"})
        assert response.status_code == 403, (method, path, role, response.status_code, response.json)
        assert response.json["code"] == 403 and "needs the role" in response.json["message"]
