"""/api/blood requests: post, list, my-requests, detail and status, per role and with bad input."""
import json
from datetime import datetime, timedelta, timezone

import pytest
from freezegun import freeze_time

from app.timeutil import from_iso
from tests.blood.helpers import VALID_REQUEST, future, insert_blood_request, past

ROLES = ["patient", "other_patient", "authority", "other_authority", "admin"]


def count_requests(db):
    return db.execute("SELECT count(*) AS n FROM blood_requests").fetchone()["n"]


def ids(response):
    return [item["id"] for item in response.json]


# --- anonymous -------------------------------------------------------------------------

@pytest.mark.parametrize(
    "method, path",
    [("POST", "/api/blood/request"), ("GET", "/api/blood/requests"),
     ("GET", "/api/blood/my-requests"), ("GET", "/api/blood/requests/1"),
     ("GET", "/api/blood/requests/compatible?donorBloodType=O-"),
     ("PUT", "/api/blood/requests/1/status"), ("POST", "/api/blood/requests/1/match"),
     ("GET", "/api/blood/requests/1/matches")],
)
def test_anonymous_gets_401_everywhere(client, db, world, method, path):
    insert_blood_request(db, world.patient)
    body = {"status": "cancelled"} if method == "PUT" else (
        {"donorBloodType": "O-"} if path.endswith("match") else VALID_REQUEST)
    r = client.open(path, method=method, json=body if method != "GET" else None)
    assert r.status_code == 401 and r.json["code"] == 401
    assert db.execute("SELECT status FROM blood_requests").fetchone()["status"] == "active"
    assert count_requests(db) == 1


# --- posting ---------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["patient", "authority", "admin"])
def test_any_logged_in_user_posts_an_active_request(client, db, world, role):
    r = client.post("/api/blood/request", json=VALID_REQUEST, headers=world.headers[role])
    assert r.status_code == 201, r.json
    body = r.json
    assert body["status"] == "active" and body["requesterId"] == getattr(world, role)["id"]
    assert body["bloodType"] == "A+" and body["unitsNeeded"] == 2 and body["urgency"] == "high"
    assert body["hospitalId"] is None and body["requiredBy"] is None and body["matchCount"] == 0
    stored = db.execute("SELECT * FROM blood_requests WHERE id = ?", (body["id"],)).fetchone()
    assert stored["requester_id"] == getattr(world, role)["id"]
    assert stored["location"] == VALID_REQUEST["location"] and stored["status"] == "active"


def test_post_with_hospital_deadline_and_defaults(client, db, world, make):
    body = {**VALID_REQUEST, "hospitalId": world.hospital["id"],
            "requiredBy": "2099-01-01T12:00:00+06:00", "medicalCondition": "  Surgery  ",
            "notes": ""}
    body.pop("urgency")
    with freeze_time("2098-06-01T00:00:00Z"):  # tokens expire: make one in the frozen time
        r = client.post("/api/blood/request", json=body, headers=make.auth(world.patient))
    assert r.status_code == 201, r.json
    assert r.json["urgency"] == "medium"
    assert r.json["hospitalId"] == world.hospital["id"]
    assert r.json["hospitalName"] == world.hospital["name"]
    # stored in UTC: 12:00 at +06:00 is 06:00Z
    assert from_iso(r.json["requiredBy"]) == datetime(2099, 1, 1, 6, tzinfo=timezone.utc)
    assert r.json["requiredBy"].endswith("+00:00")
    assert r.json["medicalCondition"] == "Surgery" and r.json["notes"] is None


def test_required_by_must_be_strictly_in_the_future(client, world, db, make):
    with freeze_time("2030-05-01T10:00:00Z"):
        headers = make.auth(world.patient)
        late = client.post("/api/blood/request", headers=headers,
                           json={**VALID_REQUEST, "requiredBy": "2030-05-01T16:00:00+06:00"})
        soon = client.post("/api/blood/request", headers=headers,
                           json={**VALID_REQUEST, "requiredBy": "2030-05-01T10:00:01Z"})
    assert late.status_code == 422 and "requiredBy" in late.json["errors"]["json"]
    assert soon.status_code == 201, soon.json
    assert count_requests(db) == 1


BAD_BODIES = [
    ({"bloodType": "C+"}, "bloodType"),
    ({"bloodType": "a+"}, "bloodType"),
    ({"bloodType": ""}, "bloodType"),
    ({"bloodType": 5}, "bloodType"),
    ({"bloodType": "O -"}, "bloodType"),
    ({"bloodType": "A+ "}, "bloodType"),
    ({"bloodType": None}, "bloodType"),
    ({"bloodType": ["A+"]}, "bloodType"),
    ({"unitsNeeded": 0}, "unitsNeeded"),
    ({"unitsNeeded": 21}, "unitsNeeded"),
    ({"unitsNeeded": -1}, "unitsNeeded"),
    ({"unitsNeeded": "3"}, "unitsNeeded"),
    ({"unitsNeeded": 3.5}, "unitsNeeded"),
    ({"unitsNeeded": 2.0}, "unitsNeeded"),
    ({"unitsNeeded": 10**30}, "unitsNeeded"),
    ({"unitsNeeded": True}, "unitsNeeded"),
    ({"unitsNeeded": None}, "unitsNeeded"),
    ({"urgency": "urgent"}, "urgency"),
    ({"urgency": "HIGH"}, "urgency"),
    ({"urgency": ""}, "urgency"),
    ({"contactPhone": "call me"}, "contactPhone"),
    ({"contactPhone": ""}, "contactPhone"),
    ({"contactPhone": "1" * 40}, "contactPhone"),
    ({"contactPhone": 8801712345678}, "contactPhone"),
    ({"location": ""}, "location"),
    ({"location": "    "}, "location"),
    ({"location": "x" * 301}, "location"),
    ({"location": "Dhaka\x00"}, "location"),
    ({"location": "Dha\x07ka"}, "location"),
    ({"patientName": "x" * 201}, "patientName"),
    ({"patientName": 42}, "patientName"),
    ({"medicalCondition": "x" * 2001}, "medicalCondition"),
    ({"notes": "x" * 2001}, "notes"),
    ({"notes": {"a": 1}}, "notes"),
    ({"requiredBy": "2000-01-01T00:00:00+00:00"}, "requiredBy"),
    ({"requiredBy": "2099-01-01T00:00:00"}, "requiredBy"),  # naive
    ({"requiredBy": "2099-01-01"}, "requiredBy"),
    ({"requiredBy": "tomorrow"}, "requiredBy"),
    ({"requiredBy": "2099-13-01T00:00:00Z"}, "requiredBy"),
    ({"requiredBy": 4102444800}, "requiredBy"),
    ({"requiredBy": "9999-12-31T23:59:59-23:59"}, "requiredBy"),
    ({"hospitalId": "1"}, "hospitalId"),
    ({"hospitalId": 0}, "hospitalId"),
    ({"hospitalId": -5}, "hospitalId"),
    ({"hospitalId": 1.5}, "hospitalId"),
    ({"hospitalId": 10**30}, "hospitalId"),
    ({"status": "fulfilled"}, "status"),
    ({"requesterId": 1}, "requesterId"),
]


@pytest.mark.parametrize("change, field", BAD_BODIES)
def test_bad_input_is_422_and_writes_nothing(client, db, world, change, field):
    r = client.post("/api/blood/request", json={**VALID_REQUEST, **change},
                    headers=world.headers["patient"])
    assert r.status_code == 422, r.json
    assert field in r.json["errors"]["json"]
    assert count_requests(db) == 0


@pytest.mark.parametrize("field", ["patientName", "bloodType", "unitsNeeded", "contactPhone",
                                   "location"])
def test_missing_required_field_is_422(client, db, world, field):
    body = {k: v for k, v in VALID_REQUEST.items() if k != field}
    r = client.post("/api/blood/request", json=body, headers=world.headers["patient"])
    assert r.status_code == 422 and field in r.json["errors"]["json"]
    assert count_requests(db) == 0


def test_required_by_more_than_a_year_ahead_is_422(client, db, world):
    r = client.post("/api/blood/request", headers=world.headers["patient"],
                    json={**VALID_REQUEST, "requiredBy": future(days=400).isoformat()})
    assert r.status_code == 422 and "requiredBy" in r.json["errors"]["json"]
    assert count_requests(db) == 0


@pytest.mark.parametrize("status", ["pending", "rejected", "suspended", None])
def test_hospital_must_exist_and_be_approved(client, db, world, make, status):
    hospital_id = make.hospital(status=status)["id"] if status else 987654
    r = client.post("/api/blood/request", json={**VALID_REQUEST, "hospitalId": hospital_id},
                    headers=world.headers["patient"])
    assert r.status_code == 422, r.json
    assert "hospitalId" in r.json["errors"]["json"]
    assert count_requests(db) == 0


@pytest.mark.parametrize("payload", ["{not json", "[1, 2]", '"text"', "null", ""])
def test_malformed_or_non_object_body_is_a_4xx(client, db, world, payload):
    r = client.post("/api/blood/request", data=payload, content_type="application/json",
                    headers=world.headers["patient"])
    assert r.status_code in (400, 422) and r.json["code"] == r.status_code
    assert count_requests(db) == 0


def test_oversized_body_is_413(client, db, world):
    r = client.post("/api/blood/request", json={**VALID_REQUEST, "notes": "x" * 200_000},
                    headers=world.headers["patient"])
    assert r.status_code == 413 and count_requests(db) == 0


# --- listing active requests ------------------------------------------------------------

def test_list_shows_only_open_requests_most_urgent_then_soonest_then_oldest(client, db, world):
    p, o = world.patient, world.other_patient
    low = insert_blood_request(db, p, urgency="low")
    crit_late = insert_blood_request(db, o, urgency="critical", required_in=timedelta(days=3))
    crit_soon = insert_blood_request(db, p, urgency="critical", required_in=timedelta(hours=2))
    crit_open_old = insert_blood_request(db, o, urgency="critical", created_at=past(hours=5))
    crit_open_new = insert_blood_request(db, p, urgency="critical", created_at=past(hours=1))
    high = insert_blood_request(db, o, urgency="high")
    for status in ("fulfilled", "cancelled", "expired"):
        insert_blood_request(db, p, urgency="critical", status=status)
    insert_blood_request(db, p, urgency="critical", required_by=past(minutes=1))  # overdue

    r = client.get("/api/blood/requests", headers=world.headers["other_authority"])
    assert r.status_code == 200
    assert ids(r) == [crit_soon["id"], crit_late["id"], crit_open_old["id"],
                      crit_open_new["id"], high["id"], low["id"]]
    assert json.loads(r.headers["X-Pagination"])["total"] == 6


@pytest.mark.parametrize("role", ROLES)
def test_every_role_reads_the_list_and_one_request(client, db, world, role):
    req = insert_blood_request(db, world.patient, hospital_id=world.hospital["id"])
    listing = client.get("/api/blood/requests", headers=world.headers[role])
    assert listing.status_code == 200 and ids(listing) == [req["id"]]
    one = client.get(f"/api/blood/requests/{req['id']}", headers=world.headers[role])
    assert one.status_code == 200
    assert one.json["id"] == req["id"] and one.json["contactPhone"] == req["contact_phone"]
    assert one.json["hospitalName"] == world.hospital["name"]


def test_filters(client, db, world):
    p = world.patient
    a_dhaka = insert_blood_request(db, p, blood_type="A+", urgency="high", location="Dhanmondi, Dhaka",
                                   hospital_id=world.hospital["id"])
    b_dhaka = insert_blood_request(db, p, blood_type="B-", urgency="low", location="Mirpur DHAKA")
    a_ctg = insert_blood_request(db, p, blood_type="A+", urgency="low", location="Chattogram",
                                 hospital_id=world.other_hospital["id"])
    h = world.headers["other_patient"]

    def found(**query):
        r = client.get("/api/blood/requests", query_string=query, headers=h)
        assert r.status_code == 200, r.json
        return set(ids(r))

    assert found(bloodType="A+") == {a_dhaka["id"], a_ctg["id"]}
    assert found(bloodType="B-") == {b_dhaka["id"]}
    assert found(bloodType="O-") == set()
    assert found(urgency="low") == {b_dhaka["id"], a_ctg["id"]}
    assert found(hospitalId=world.hospital["id"]) == {a_dhaka["id"]}
    assert found(location="dhaka") == {a_dhaka["id"], b_dhaka["id"]}
    assert found(location="  ") == {a_dhaka["id"], b_dhaka["id"], a_ctg["id"]}
    assert found(bloodType="A+", location="Dhaka", urgency="high") == {a_dhaka["id"]}


def test_location_wildcards_are_literal(client, db, world):
    literal = insert_blood_request(db, world.patient, location="Ward 50% block_B \\east")
    other = insert_blood_request(db, world.patient, location="Ward 500 blockXB")
    h = world.headers["patient"]

    def found(location):
        return set(ids(client.get("/api/blood/requests", query_string={"location": location},
                                  headers=h)))

    assert found("50%") == {literal["id"]}
    assert found("%") == {literal["id"]}
    assert found("k_B") == {literal["id"]}
    assert found("\\east") == {literal["id"]}
    assert found("500") == {other["id"]}


@pytest.mark.parametrize(
    "query, field",
    [("bloodType=C%2B", "bloodType"), ("bloodType=A+", "bloodType"),  # bare + is a space
     ("bloodType=a%2B", "bloodType"), ("urgency=urgent", "urgency"),
     ("hospitalId=abc", "hospitalId"), ("hospitalId=0", "hospitalId"),
     (f"hospitalId={10**30}", "hospitalId"), ("location=" + "x" * 301, "location"),
     ("page=0", "page"), ("page=-1", "page"), ("page=abc", "page"),
     ("page_size=0", "page_size"), ("page_size=-5", "page_size"),
     ("page_size=99999999999999999999", "page_size"), ("page_size=1.5", "page_size")],
)
def test_bad_list_queries_are_422(client, world, query, field):
    r = client.get(f"/api/blood/requests?{query}", headers=world.headers["patient"])
    assert r.status_code == 422, r.json
    assert field in r.json["errors"]["query"]


def test_pagination_pages_and_cap(app, client, db, world):
    created = [insert_blood_request(db, world.patient, created_at=past(minutes=10 - i))["id"]
               for i in range(5)]
    h = world.headers["other_patient"]
    first = client.get("/api/blood/requests?page=1&page_size=2", headers=h)
    third = client.get("/api/blood/requests?page=3&page_size=2", headers=h)
    beyond = client.get("/api/blood/requests?page=50&page_size=2", headers=h)
    assert ids(first) == created[:2] and ids(third) == created[4:]
    assert beyond.status_code == 200 and beyond.json == []
    meta = json.loads(first.headers["X-Pagination"])
    assert meta["total"] == 5 and meta["total_pages"] == 3

    app.config["MAX_PAGE_SIZE"] = 3
    capped = client.get("/api/blood/requests?page_size=5000", headers=h)
    assert capped.status_code == 200 and ids(capped) == created[:3]
    assert json.loads(capped.headers["X-Pagination"])["total_pages"] == 2


# --- own requests ----------------------------------------------------------------------

def test_my_requests_are_own_any_status_newest_first(client, db, world):
    mine = [insert_blood_request(db, world.patient, status=status, created_at=past(hours=h))["id"]
            for h, status in [(4, "active"), (3, "fulfilled"), (2, "expired"), (1, "cancelled")]]
    insert_blood_request(db, world.other_patient)
    r = client.get("/api/blood/my-requests", headers=world.headers["patient"])
    assert r.status_code == 200 and ids(r) == list(reversed(mine))
    only = client.get("/api/blood/my-requests?status=expired", headers=world.headers["patient"])
    assert ids(only) == [mine[2]]
    bad = client.get("/api/blood/my-requests?status=deleted", headers=world.headers["patient"])
    assert bad.status_code == 422
    others = client.get("/api/blood/my-requests", headers=world.headers["other_patient"])
    assert len(others.json) == 1 and others.json[0]["requesterId"] == world.other_patient["id"]
    admin = client.get("/api/blood/my-requests", headers=world.headers["admin"])
    assert admin.json == []


@pytest.mark.parametrize("request_id", ["987654", str(2**63), "9" * 40, "-1", "abc"])
def test_unknown_request_is_404(client, world, request_id):
    for method, suffix, body in [("GET", "", None), ("PUT", "/status", {"status": "cancelled"}),
                                 ("POST", "/match", {"donorBloodType": "O-"}),
                                 ("GET", "/matches", None)]:
        r = client.open(f"/api/blood/requests/{request_id}{suffix}", method=method, json=body,
                        headers=world.headers["admin"])
        assert r.status_code == 404, (method, suffix, r.json)


# --- status changes --------------------------------------------------------------------

@pytest.mark.parametrize(
    "role, code",
    [("patient", 200), ("other_patient", 403), ("authority", 200),
     ("other_authority", 403), ("admin", 200)],
)
@pytest.mark.parametrize("new_status", ["fulfilled", "cancelled"])
def test_status_change_per_role(client, db, world, role, code, new_status):
    req = insert_blood_request(db, world.patient, hospital_id=world.hospital["id"])
    r = client.put(f"/api/blood/requests/{req['id']}/status", json={"status": new_status},
                   headers=world.headers[role])
    assert r.status_code == code, r.json
    stored = db.execute("SELECT status FROM blood_requests WHERE id = ?", (req["id"],)).fetchone()
    assert stored["status"] == (new_status if code == 200 else "active")
    if code == 200:
        assert r.json["status"] == new_status


def test_authority_cannot_close_a_request_without_hospital(client, db, world, make):
    req = insert_blood_request(db, world.patient)
    homeless = make.user("hospital-authority")  # no hospital yet: hospital_id NULL
    for headers in (world.headers["authority"], make.auth(homeless)):
        r = client.put(f"/api/blood/requests/{req['id']}/status", json={"status": "cancelled"},
                       headers=headers)
        assert r.status_code == 403
    assert db.execute("SELECT status FROM blood_requests").fetchone()["status"] == "active"


def test_requester_is_notified_when_someone_else_closes_the_request(client, db, world):
    own = insert_blood_request(db, world.patient, hospital_id=world.hospital["id"])
    by_hospital = insert_blood_request(db, world.patient, hospital_id=world.hospital["id"])
    client.put(f"/api/blood/requests/{own['id']}/status", json={"status": "cancelled"},
               headers=world.headers["patient"])
    client.put(f"/api/blood/requests/{by_hospital['id']}/status", json={"status": "fulfilled"},
               headers=world.headers["authority"])
    rows = db.execute("SELECT user_id, blood_request_id, type FROM booking_notifications").fetchall()
    assert rows == [{"user_id": world.patient["id"], "blood_request_id": by_hospital["id"],
                     "type": "blood_request_fulfilled"}]


@pytest.mark.parametrize("current", ["fulfilled", "cancelled", "expired"])
@pytest.mark.parametrize("new_status", ["fulfilled", "cancelled"])
def test_only_active_requests_change_status(client, db, world, current, new_status):
    req = insert_blood_request(db, world.patient, status=current)
    r = client.put(f"/api/blood/requests/{req['id']}/status", json={"status": new_status},
                   headers=world.headers["patient"])
    assert r.status_code == 409 and r.json["code"] == 409
    stored = db.execute("SELECT status, updated_at FROM blood_requests").fetchone()
    assert stored == {"status": current, "updated_at": req["updated_at"]}


def test_closing_twice_is_409(client, db, world):
    req = insert_blood_request(db, world.patient)
    url = f"/api/blood/requests/{req['id']}/status"
    assert client.put(url, json={"status": "fulfilled"}, headers=world.headers["patient"]).status_code == 200
    again = client.put(url, json={"status": "cancelled"}, headers=world.headers["admin"])
    assert again.status_code == 409
    assert db.execute("SELECT status FROM blood_requests").fetchone()["status"] == "fulfilled"


@pytest.mark.parametrize(
    "body",
    [{"status": "active"}, {"status": "expired"}, {"status": "FULFILLED"}, {"status": ""},
     {"status": None}, {"status": 1}, {}, {"status": "cancelled", "reason": "x"}],
)
def test_bad_status_bodies_are_422(client, db, world, body):
    req = insert_blood_request(db, world.patient)
    r = client.put(f"/api/blood/requests/{req['id']}/status", json=body,
                   headers=world.headers["patient"])
    assert r.status_code == 422
    assert db.execute("SELECT status FROM blood_requests").fetchone()["status"] == "active"


def test_openapi_documents_every_blood_endpoint(client):
    spec = client.get("/openapi.json").json
    expected = {
        "/api/blood/request": "post", "/api/blood/requests": "get",
        "/api/blood/my-requests": "get", "/api/blood/requests/compatible": "get",
        "/api/blood/requests/{request_id}": "get",
        "/api/blood/requests/{request_id}/status": "put",
        "/api/blood/requests/{request_id}/match": "post",
        "/api/blood/requests/{request_id}/matches": "get",
    }
    for path, method in expected.items():
        operation = spec["paths"][path][method]
        assert operation["summary"] and operation["security"] == [{"bearerAuth": []}], path
    params = {p["name"] for p in spec["paths"]["/api/blood/requests"]["get"]["parameters"]}
    assert {"bloodType", "urgency", "hospitalId", "location", "page", "page_size"} <= params
