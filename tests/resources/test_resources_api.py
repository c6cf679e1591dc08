"""/api/hospital-resources per role, with hostile counts; every change audited."""
import json
from datetime import timedelta

import pytest
from freezegun import freeze_time

from app.db import IntegrityError, transaction
from app.resources import queries
from tests.factories import build_world
from tests.hospitals.helpers import MANAGERS, ROLES, expected_denial


def url(world, resource_type="beds", suffix=""):
    return f"/api/hospital-resources/{world.hospital['id']}/{resource_type}{suffix}"


def row(db, hospital, resource_type):
    return queries.counters(queries.get_resource(db, hospital["id"], resource_type))


def audit(db):
    return db.execute("SELECT * FROM resource_audit_log ORDER BY id").fetchall()


@pytest.mark.parametrize("role", ROLES)
def test_anyone_reads_an_approved_hospitals_resources(client, world, role):
    r = client.get(f"/api/hospital-resources/{world.hospital['id']}", headers=world.headers[role])
    assert r.status_code == 200
    assert [(x["resourceType"], x["total"], x["available"]) for x in r.json] == [
        ("beds", 10, 10), ("icu", 2, 2)]
    a = client.get(url(world, "icu", "/availability"), headers=world.headers[role])
    assert a.status_code == 200
    assert (a.json["available"], a.json["total"], a.json["isAvailable"], a.json["hospitalId"]) == (
        2, 2, True, world.hospital["id"])


@pytest.mark.parametrize("role", ROLES)
def test_pending_hospitals_resources_are_for_its_managers_only(client, make, role):
    world = build_world(make, status="pending")
    expected = 200 if role in MANAGERS else 404
    for path in (f"/api/hospital-resources/{world.hospital['id']}", url(world, "beds", "/availability")):
        assert client.get(path, headers=world.headers[role]).status_code == expected


@pytest.mark.parametrize("path", ["/api/hospital-resources/31337",
                                  "/api/hospital-resources/31337/beds/availability",
                                  "/api/hospital-resources/1/ventilators/availability",
                                  "/api/hospital-resources/1/BEDS/availability"])
def test_unknown_hospital_or_type_is_404(client, world, path):
    assert client.get(path).status_code == 404


def test_availability_of_a_type_the_hospital_lacks_is_404(client, world):
    assert client.get(url(world, "operationTheatres", "/availability")).status_code == 404


@freeze_time("2026-03-05 08:00:00")
@pytest.mark.parametrize("role", MANAGERS)
def test_managers_set_counts_and_each_change_is_audited(client, world, db, role):
    r = client.put(url(world), json={"total": 12, "occupied": 4, "reserved": 1, "maintenance": 2,
                                     "reason": "New ward opened"},
                   headers={**world.headers[role], "User-Agent": "ward-tablet/1.0"})
    assert r.status_code == 200, r.json
    assert {k: r.json[k] for k in ("total", "available", "occupied", "reserved", "maintenance")} == {
        "total": 12, "available": 5, "occupied": 4, "reserved": 1, "maintenance": 2}
    assert r.json["lastUpdated"].startswith("2026-03-05T08:00:00")
    [entry] = audit(db)
    actor = getattr(world, role)
    assert (entry["action"], entry["changed_by"], entry["reason"], entry["ip_address"],
            entry["user_agent"], entry["resource_type"]) == (
        "update", actor["id"], "New ward opened", "127.0.0.1", "ward-tablet/1.0", "beds")
    assert json.loads(entry["old_values"]) == {"total": 10, "available": 10, "occupied": 0,
                                               "reserved": 0, "maintenance": 0}
    assert json.loads(entry["new_values"])["available"] == 5
    assert entry["created_at"].startswith("2026-03-05T08:00:00")
    admin_entries = db.execute("SELECT action FROM admin_audit_log").fetchall()
    assert admin_entries == ([{"action": "resource.update"}] if role == "admin" else [])


def test_partial_update_keeps_the_other_counters(client, world, db):
    with transaction(db):
        db.execute("UPDATE hospital_resources SET occupied = 3, available = available - 3 "
                   "WHERE hospital_id = ? AND resource_type = 'beds'", (world.hospital["id"],))
    r = client.put(url(world), json={"total": 20, "reason": "extension"},
                   headers=world.headers["authority"])
    assert r.status_code == 200
    assert row(db, world.hospital, "beds") == {"total": 20, "available": 17, "occupied": 3,
                                               "reserved": 0, "maintenance": 0}


def test_creating_a_missing_resource_type(client, world, db):
    r = client.put(url(world, "operationTheatres"), json={"total": 3, "maintenance": 1,
                                                           "reason": "theatres commissioned"},
                   headers=world.headers["authority"])
    assert r.status_code == 200
    assert row(db, world.hospital, "operationTheatres")["available"] == 2
    [entry] = audit(db)
    assert entry["action"] == "create" and entry["old_values"] is None


def test_creating_without_total_is_422(client, world, db):
    r = client.put(url(world, "operationTheatres"), json={"occupied": 1, "reason": "x"},
                   headers=world.headers["authority"])
    assert r.status_code == 422 and "total" in r.json["errors"]["json"]
    assert row(db, world.hospital, "operationTheatres") is None and audit(db) == []


@pytest.mark.parametrize("role", [r for r in ROLES if r not in MANAGERS])
def test_others_cannot_set_counts(client, world, db, role):
    r = client.put(url(world), json={"total": 1, "reason": "sabotage"}, headers=world.headers[role])
    assert r.status_code == expected_denial(role)
    assert row(db, world.hospital, "beds")["total"] == 10 and audit(db) == []


def test_other_authority_cannot_create_rows_either(client, world, db):
    r = client.put(url(world, "operationTheatres"), json={"total": 1, "reason": "x"},
                   headers=world.headers["other_authority"])
    assert r.status_code == 404
    assert row(db, world.hospital, "operationTheatres") is None


def test_setting_counts_on_an_unknown_hospital_is_404(client, world, db):
    r = client.put("/api/hospital-resources/55555/beds", json={"total": 1, "reason": "x"},
                   headers=world.headers["admin"])
    assert r.status_code == 404 and audit(db) == []


@pytest.mark.parametrize("body", [
    {"total": 5, "occupied": 6, "reason": "x"},
    {"total": 3, "occupied": 1, "reserved": 1, "maintenance": 2, "reason": "x"},
    {"total": 0, "maintenance": 1, "reason": "x"},
])
def test_counts_that_do_not_add_up_are_409(client, world, db, body):
    r = client.put(url(world), json=body, headers=world.headers["authority"])
    assert r.status_code == 409 and r.json["code"] == 409
    assert row(db, world.hospital, "beds")["total"] == 10 and audit(db) == []


def test_total_below_what_bookings_hold_at_their_busiest_is_409(client, world, db):
    """Six approved windows overlap at one instant next week (and the hand marks are
    none): a total of 5 would break the schedule, 6 does not."""
    for i in range(6):
        world.make.booking(world.make.user(), world.hospital, status="approved",
                           scheduled_in=timedelta(days=7, hours=i))
    r = client.put(url(world), json={"total": 5, "reason": "closing a ward"},
                   headers=world.headers["authority"])
    assert r.status_code == 409 and "6" in r.json["message"], r.json
    assert row(db, world.hospital, "beds")["total"] == 10
    r = client.put(url(world), json={"total": 6, "reason": "closing a ward"},
                   headers=world.headers["authority"])
    assert r.status_code == 200, r.json
    assert (r.json["total"], r.json["available"]) == (6, 6)  # nothing held right now


def test_the_database_refuses_a_negative_available(db, world):
    """The CHECKs back the service's own check: the write itself cannot break the invariant."""
    with pytest.raises(IntegrityError, match="CHECK|check constraint"):
        with transaction(db):
            queries.upsert_counts(db, hospital_id=world.hospital["id"], resource_type="beds",
                                  total=1, occupied=2, reserved=0, maintenance=0,
                                  updated_by=None, now="2026-01-01T00:00:00+00:00")
    assert row(db, world.hospital, "beds")["total"] == 10


@pytest.mark.parametrize("body, field", [
    ({"total": -1, "reason": "x"}, "total"),
    ({"total": 5, "occupied": -2, "reason": "x"}, "occupied"),
    ({"total": 2.5, "reason": "x"}, "total"),
    ({"total": 5.0, "reason": "x"}, "total"),
    ({"total": "5", "reason": "x"}, "total"),
    ({"total": True, "reason": "x"}, "total"),
    ({"total": None, "reason": "x"}, "total"),
    ({"total": 10**6, "reason": "x"}, "total"),
    ({"total": 10**30, "reason": "x"}, "total"),
    ({"total": 5, "reserved": [1], "reason": "x"}, "reserved"),
    ({"total": 5}, "reason"),
    ({"total": 5, "reason": "   "}, "reason"),
    ({"total": 5, "reason": "x" * 501}, "reason"),
    ({"total": 5, "available": 5, "reason": "x"}, "available"),
    ({"total": 5, "hospitalId": 2, "reason": "x"}, "hospitalId"),
    ({"reason": "nothing to change"}, "_schema"),
])
def test_bad_counts_are_422_and_change_nothing(client, world, db, body, field):
    r = client.put(url(world), json=body, headers=world.headers["authority"])
    assert r.status_code == 422, r.json
    assert field in r.json["errors"]["json"]
    assert row(db, world.hospital, "beds")["total"] == 10 and audit(db) == []


@pytest.mark.parametrize("resource_type", ["ventilators", "Beds", "beds;", "1"])
def test_unknown_resource_type_in_the_path_is_404(client, world, db, resource_type):
    r = client.put(url(world, resource_type), json={"total": 1, "reason": "x"},
                   headers=world.headers["admin"])
    assert r.status_code == 404 and audit(db) == []


def test_audit_log_lists_changes_newest_first_with_filter_and_pages(client, world, db):
    headers = world.headers["authority"]
    for total in (11, 12, 13):
        client.put(url(world), json={"total": total, "reason": f"to {total}"}, headers=headers)
    client.put(url(world, "icu"), json={"total": 3, "reason": "icu"}, headers=headers)
    base = f"/api/hospital-resources/{world.hospital['id']}/audit-log"
    r = client.get(base, headers=headers)
    assert r.status_code == 200
    assert [e["reason"] for e in r.json] == ["icu", "to 13", "to 12", "to 11"]
    first = r.json[1]
    assert first["newValues"]["total"] == 13 and first["oldValues"]["total"] == 12
    assert first["changedBy"] == world.authority["id"] and first["changedByName"]
    assert first["action"] == "update" and first["ipAddress"] == "127.0.0.1"
    beds = client.get(base + "?resourceType=beds&page_size=2&page=2", headers=headers)
    assert [e["reason"] for e in beds.json] == ["to 11"]
    assert json.loads(beds.headers["X-Pagination"])["total"] == 3


@pytest.mark.parametrize("role", ROLES)
def test_audit_log_and_utilization_access(client, world, role):
    expected = 200 if role in MANAGERS else expected_denial(role)
    base = f"/api/hospital-resources/{world.hospital['id']}"
    assert client.get(base + "/audit-log", headers=world.headers[role]).status_code == expected
    assert client.get(base + "/utilization", headers=world.headers[role]).status_code == expected


@pytest.mark.parametrize("query", ["resourceType=ventilators", "page_size=0", "page_size=-1",
                                   "page_size=1e3", "page=abc"])
def test_audit_log_bad_query_is_422(client, world, query):
    r = client.get(f"/api/hospital-resources/{world.hospital['id']}/audit-log?{query}",
                   headers=world.headers["admin"])
    assert r.status_code == 422


def test_utilization_ratios(client, world, db):
    headers = world.headers["authority"]
    client.put(url(world), json={"total": 8, "occupied": 6, "reserved": 1, "reason": "count"},
               headers=headers)
    client.put(url(world, "operationTheatres"), json={"total": 0, "reason": "none yet"},
               headers=headers)
    r = client.get(f"/api/hospital-resources/{world.hospital['id']}/utilization", headers=headers)
    assert r.status_code == 200
    by_type = {x["resourceType"]: x for x in r.json["resources"]}
    assert (by_type["beds"]["occupancyRate"], by_type["beds"]["utilizationRate"]) == (0.75, 0.875)
    assert (by_type["icu"]["occupancyRate"], by_type["icu"]["utilizationRate"]) == (0.0, 0.0)
    assert by_type["operationTheatres"]["occupancyRate"] is None
    overall = r.json["overall"]
    assert (overall["total"], overall["occupied"], overall["occupancyRate"]) == (10, 6, 0.6)
