"""Arbitrary JSON and query values never produce a 500 on the blood endpoints."""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.blood.helpers import VALID_REQUEST, insert_blood_request

# JSON values only: NaN and infinities are not JSON, and the service refuses such a
# body as a whole (400 "Invalid JSON body", tests/test_request_bodies.py).
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=6,
)
REQUEST_FIELDS = list(VALID_REQUEST) + ["hospitalId", "requiredBy", "medicalCondition", "notes",
                                        "status", ""]
QUERY_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=30)

FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def open_request(db, world):
    return insert_blood_request(db, world.other_patient, blood_type="AB+")


@FUZZ
@given(changes=st.dictionaries(st.sampled_from(REQUEST_FIELDS), JSON_VALUES, max_size=4))
def test_post_request_never_500(client, world, changes):
    r = client.post("/api/blood/request", json={**VALID_REQUEST, **changes},
                    headers=world.headers["patient"])
    assert r.status_code in (201, 422), (changes, r.json)


@FUZZ
@given(body=st.dictionaries(st.sampled_from(["donorBloodType", "phone", "x"]), JSON_VALUES,
                            max_size=3))
def test_match_never_500(client, world, open_request, body):
    r = client.post(f"/api/blood/requests/{open_request['id']}/match", json=body,
                    headers=world.headers["patient"])
    assert r.status_code in (201, 409, 422), (body, r.json)


@FUZZ
@given(query=st.dictionaries(
    st.sampled_from(["bloodType", "urgency", "hospitalId", "location", "page", "page_size",
                     "donorBloodType", "status"]),
    QUERY_TEXT, max_size=4))
def test_list_queries_never_500(client, world, query):
    for path in ("/api/blood/requests", "/api/blood/requests/compatible",
                 "/api/blood/my-requests"):
        r = client.get(path, query_string=query, headers=world.headers["patient"])
        assert r.status_code in (200, 422), (path, query, r.json)
