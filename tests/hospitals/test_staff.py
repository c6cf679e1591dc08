"""Issue #16, item 2: several staff per hospital. The staff add and remove colleagues
(never the last active one), admins assign and unassign any authority account; every
change is audited; all staff have the same rights."""
import json
import threading

import pytest

from app.db import connect_from_config
from app.hospitals import staff
from app.timeutil import utcnow
from tests.hospitals.helpers import ROLES

MINE = "/api/hospitals/my-hospital/staff"


def admin_url(hospital, user_id=None):
    url = f"/api/admin/hospitals/{hospital['id']}/staff"
    return url if user_id is None else f"{url}/{user_id}"


def hospital_of(db, user):
    return db.execute("SELECT hospital_id FROM users WHERE id = ?",
                      (user["id"],)).fetchone()["hospital_id"]


def audit(db):
    rows = db.execute("SELECT * FROM admin_audit_log WHERE action LIKE 'hospital.staff_%' "
                      "ORDER BY id").fetchall()
    return [(r["actor_id"], r["action"], r["target_id"], json.loads(r["details"])["user_id"])
            for r in rows]


def test_staff_add_a_colleague_by_email_who_gets_the_same_rights(client, world, make, db):
    colleague = make.user("hospital-authority", email="shift.two@example.test")
    r = client.post(MINE, json={"email": "shift.two@EXAMPLE.test"},
                    headers=world.headers["authority"])
    assert r.status_code == 201, r.json
    assert r.json["id"] == colleague["id"] and r.json["hospitalId"] == world.hospital["id"]
    assert audit(db) == [(world.authority["id"], "hospital.staff_add", world.hospital["id"],
                          colleague["id"])]

    listed = client.get(MINE, headers=world.headers["authority"]).json
    assert [u["id"] for u in listed] == [world.authority["id"], colleague["id"]]
    # the colleague manages the hospital as its registrant does
    headers = make.auth(colleague)
    assert client.get("/api/hospitals/my-hospital", headers=headers).json["id"] == (
        world.hospital["id"])
    r = client.put(f"/api/hospital-resources/{world.hospital['id']}/beds",
                   json={"total": 12, "reason": "ward reopened"}, headers=headers)
    assert r.status_code == 200, r.json
    assert [u["id"] for u in client.get(MINE, headers=headers).json] == [
        world.authority["id"], colleague["id"]]


def test_new_bookings_notify_every_member_of_staff(client, world, make, db):
    colleague = make.user("hospital-authority")
    client.post(MINE, json={"email": colleague["email"]}, headers=world.headers["authority"])
    world.make.booking(world.patient, world.hospital)
    for member in (world.authority, colleague):
        rows = db.execute("SELECT type FROM booking_notifications WHERE user_id = ?",
                          (member["id"],)).fetchall()
        assert [row["type"] for row in rows] == ["booking_request"]


@pytest.mark.parametrize("who, code", [("patient", 404), ("admin", 404), ("other_authority", 409),
                                       ("authority", 409), ("unknown", 404)])
def test_only_authority_accounts_without_a_hospital_can_be_added(client, world, db, who, code):
    email = "nobody@example.test" if who == "unknown" else getattr(world, who)["email"]
    r = client.post(MINE, json={"email": email}, headers=world.headers["authority"])
    assert r.status_code == code, r.json
    if who == "other_authority":
        assert hospital_of(db, world.other_authority) == world.other_hospital["id"]
    assert audit(db) == []


@pytest.mark.parametrize("body", [None, {}, {"email": ""}, {"email": "not-an-email"},
                                  {"email": 5}, {"email": "a@b.test", "role": "admin"},
                                  {"userId": 3}])
def test_adding_bad_input_is_422(client, world, db, body):
    r = client.post(MINE, json=body, headers=world.headers["authority"])
    assert r.status_code == 422
    assert audit(db) == []


def test_staff_remove_a_colleague_but_never_the_last(client, world, make, db):
    colleague = make.authority(world.hospital)
    r = client.delete(f"{MINE}/{colleague['id']}", headers=world.headers["authority"])
    assert r.status_code == 200, r.json
    assert r.json["hospitalId"] is None and hospital_of(db, colleague) is None
    # the removed account manages nothing any more
    headers = make.auth(colleague)
    assert client.get("/api/hospitals/my-hospital", headers=headers).status_code == 404
    r = client.delete(f"{MINE}/{world.authority['id']}", headers=world.headers["authority"])
    assert r.status_code == 409 and "at least one" in r.json["message"]
    assert hospital_of(db, world.authority) == world.hospital["id"]
    assert audit(db) == [(world.authority["id"], "hospital.staff_remove", world.hospital["id"],
                          colleague["id"])]


def test_an_inactive_colleague_does_not_count_as_the_one_left(client, world, make, db):
    make.user("hospital-authority", hospital_id=world.hospital["id"], status="suspended")
    r = client.delete(f"{MINE}/{world.authority['id']}", headers=world.headers["authority"])
    assert r.status_code == 409
    assert hospital_of(db, world.authority) == world.hospital["id"]


def test_a_member_may_leave_while_a_colleague_stays(client, world, make, db):
    colleague = make.authority(world.hospital)
    r = client.delete(f"{MINE}/{world.authority['id']}", headers=world.headers["authority"])
    assert r.status_code == 200
    assert hospital_of(db, world.authority) is None and hospital_of(db, colleague) == (
        world.hospital["id"])


@pytest.mark.parametrize("target", ["other_authority", "patient", "admin", "unknown"])
def test_removing_someone_not_on_the_staff_is_404(client, world, make, db, target):
    make.authority(world.hospital)
    user_id = 424242 if target == "unknown" else getattr(world, target)["id"]
    r = client.delete(f"{MINE}/{user_id}", headers=world.headers["authority"])
    assert r.status_code == 404
    assert hospital_of(db, world.other_authority) == world.other_hospital["id"]
    assert audit(db) == []


def test_another_hospitals_staff_cannot_touch_this_hospitals_staff(client, world, make, db):
    colleague = make.authority(world.hospital)
    headers = world.headers["other_authority"]
    assert client.delete(f"{MINE}/{colleague['id']}", headers=headers).status_code == 404
    assert colleague["id"] not in [u["id"] for u in client.get(MINE, headers=headers).json]
    assert hospital_of(db, colleague) == world.hospital["id"]


@pytest.mark.parametrize("role, code", [("anonymous", 401), ("patient", 403), ("admin", 403)])
def test_my_staff_routes_are_for_authorities(client, world, role, code):
    headers = world.headers[role]
    assert client.get(MINE, headers=headers).status_code == code
    assert client.post(MINE, json={"email": "x@example.test"}, headers=headers).status_code == code
    assert client.delete(f"{MINE}/{world.authority['id']}", headers=headers).status_code == code


def test_an_authority_without_a_hospital_has_no_staff(client, make):
    loner = make.user("hospital-authority")
    colleague = make.user("hospital-authority")
    headers = make.auth(loner)
    assert client.get(MINE, headers=headers).status_code == 404
    assert client.post(MINE, json={"email": colleague["email"]}, headers=headers).status_code == 404
    assert client.delete(f"{MINE}/{colleague['id']}", headers=headers).status_code == 404


# --- admins ---------------------------------------------------------------------------


def test_admin_assigns_lists_and_unassigns(client, world, make, db):
    spare = make.user("hospital-authority")
    admin = world.headers["admin"]
    r = client.post(admin_url(world.other_hospital), json={"userId": spare["id"]}, headers=admin)
    assert r.status_code == 201, r.json
    assert r.json["hospitalId"] == world.other_hospital["id"]
    listed = client.get(admin_url(world.other_hospital), headers=admin).json
    assert [u["id"] for u in listed] == [world.other_authority["id"], spare["id"]]
    r = client.delete(admin_url(world.other_hospital, world.other_authority["id"]), headers=admin)
    assert r.status_code == 200 and hospital_of(db, world.other_authority) is None
    r = client.delete(admin_url(world.other_hospital, spare["id"]), headers=admin)
    assert r.status_code == 409  # the last one stays
    assert audit(db) == [
        (world.admin["id"], "hospital.staff_add", world.other_hospital["id"], spare["id"]),
        (world.admin["id"], "hospital.staff_remove", world.other_hospital["id"],
         world.other_authority["id"]),
    ]
    [row] = db.execute("SELECT ip_address FROM admin_audit_log "
                       "WHERE action = 'hospital.staff_add'").fetchall()
    assert row["ip_address"] == "127.0.0.1"


@pytest.mark.parametrize("who, code", [("patient", 404), ("admin", 404), ("authority", 409)])
def test_admin_assigns_only_authority_accounts_without_a_hospital(client, world, who, code):
    r = client.post(admin_url(world.other_hospital), json={"userId": getattr(world, who)["id"]},
                    headers=world.headers["admin"])
    assert r.status_code == code


def test_admin_staff_routes_of_an_unknown_hospital_are_404(client, world, make):
    spare = make.user("hospital-authority")
    ghost = {"id": 424242}
    admin = world.headers["admin"]
    assert client.get(admin_url(ghost), headers=admin).status_code == 404
    assert client.post(admin_url(ghost), json={"userId": spare["id"]},
                       headers=admin).status_code == 404
    assert client.delete(admin_url(ghost, spare["id"]), headers=admin).status_code == 404


@pytest.mark.parametrize("body", [None, {}, {"userId": 0}, {"userId": "x"}, {"email": "a@b.test"}])
def test_admin_assign_bad_input_is_422(client, world, body):
    r = client.post(admin_url(world.hospital), json=body, headers=world.headers["admin"])
    assert r.status_code == 422


@pytest.mark.parametrize("role", [r for r in ROLES if r != "admin"])
def test_admin_staff_routes_are_admin_only(client, world, make, db, role):
    spare = make.user("hospital-authority")
    headers = world.headers[role]
    code = 401 if role == "anonymous" else 403
    assert client.get(admin_url(world.hospital), headers=headers).status_code == code
    assert client.post(admin_url(world.hospital), json={"userId": spare["id"]},
                       headers=headers).status_code == code
    assert client.delete(admin_url(world.hospital, world.authority["id"]),
                         headers=headers).status_code == code
    assert hospital_of(db, spare) is None


def test_two_members_removing_each_other_at_once_leave_one(app, world, db):
    """Each removal checks for another active authority inside its own statement: two
    concurrent removals of the last two cannot both succeed."""
    barrier = threading.Barrier(2)
    outcomes = []

    def remove(actor_row, target_row):
        conn = connect_from_config(app.config)
        actor = type("Actor", (), {"id": actor_row["id"], "role": "hospital-authority",
                                   "hospital_id": world.hospital["id"]})()
        barrier.wait()
        try:
            staff.remove_staff(conn, world.hospital["id"], actor, target_row["id"], now=utcnow())
            outcomes.append("removed")
        except Exception as error:  # noqa: BLE001 - the outcome is what is asserted
            outcomes.append(type(error).__name__)
        finally:
            conn.close()

    colleague = world.make.authority(world.hospital)
    threads = [threading.Thread(target=remove, args=(world.authority, colleague)),
               threading.Thread(target=remove, args=(colleague, world.authority))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    left = db.execute("SELECT count(*) AS n FROM users WHERE hospital_id = ?",
                      (world.hospital["id"],)).fetchone()["n"]
    assert left == 1
    assert outcomes.count("removed") == 1
