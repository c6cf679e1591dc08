"""Issue #16 item 10: API keys for hospital systems. Staff create, list and revoke
keys (shown once, stored hashed, audited); a key reads and sets its own hospital's
resource counts and reads its queue, nothing else; revoked, unknown and malformed
keys are 401, a suspended hospital's 403; requests are rate limited per key."""
import hashlib
import json
import re
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests
from flask_login import current_user
from freezegun import freeze_time

from app.config import ConfigError, check_config
from app.db import get_db, transaction
from app.timeutil import utcnow
from tests.factories import Factory, build_world
from tests.hospitals.helpers import ROLES
from tests.live_server import LiveServer

MINE = "/api/hospitals/my-hospital/api-keys"
KEY = re.compile(r"^rc_[A-Za-z0-9_-]{43}$")


def create(client, world, name="HIS bed feed", role="authority"):
    r = client.post(MINE, json={"name": name}, headers=world.headers[role])
    assert r.status_code == 201, r.json
    return r.json


def bearer(key):
    return {"Authorization": f"Bearer {key}"}


def resources_url(hospital, resource_type="beds"):
    return f"/api/hospital-resources/{hospital['id']}/{resource_type}"


def counts_url(hospital):
    return f"/api/hospital-resources/{hospital['id']}"


def audit(db, action):
    rows = db.execute("SELECT * FROM admin_audit_log WHERE action = ? ORDER BY id",
                      (action,)).fetchall()
    return [(r["actor_id"], r["target_id"],
             json.loads(r["details"]) if isinstance(r["details"], str) else r["details"],
             r["ip_address"]) for r in rows]


# --- managing keys ------------------------------------------------------------------


def test_create_shows_the_key_once_and_stores_only_its_hash(client, world, db):
    r = client.post(MINE, json={"name": "HIS bed feed"}, headers=world.headers["authority"])
    assert r.status_code == 201
    assert r.headers["Cache-Control"] == "no-store"
    body = r.json
    assert KEY.match(body["key"])
    assert body["prefix"] == body["key"][:11] and body["name"] == "HIS bed feed"
    assert body["hospitalId"] == world.hospital["id"]
    assert body["createdBy"] == world.authority["id"] and body["revokedAt"] is None
    row = db.execute("SELECT * FROM hospital_api_keys WHERE id = ?", (body["id"],)).fetchone()
    assert row["key_hash"] == hashlib.sha256(body["key"].encode()).hexdigest()
    assert body["key"] not in json.dumps({k: str(v) for k, v in row.items()})
    assert audit(db, "api_key.create") == [
        (world.authority["id"], body["id"],
         {"hospital_id": world.hospital["id"], "name": "HIS bed feed", "prefix": body["prefix"]},
         "127.0.0.1")]
    listed = client.get(MINE, headers=world.headers["authority"]).json
    assert [k["id"] for k in listed] == [body["id"]]
    assert set(listed[0]) == {"id", "hospitalId", "name", "prefix", "createdBy", "createdByName",
                              "createdAt", "lastUsedAt", "revokedAt", "revokedBy"}
    assert body["key"] not in json.dumps(listed)


def test_every_staff_member_sees_the_hospitals_keys_others_do_not(client, world):
    created = create(client, world)
    colleague = world.make.authority(world.hospital)
    mine = client.get(MINE, headers=world.make.auth(colleague)).json
    assert [k["id"] for k in mine] == [created["id"]]
    assert client.get(MINE, headers=world.headers["other_authority"]).json == []


@pytest.mark.parametrize("role", [r for r in ROLES if r not in ("authority", "other_authority")])
def test_only_authorities_manage_their_keys(client, world, db, role):
    created = create(client, world)
    code = 401 if role == "anonymous" else 403
    headers = world.headers[role]
    assert client.get(MINE, headers=headers).status_code == code
    assert client.post(MINE, json={"name": "x"}, headers=headers).status_code == code
    assert client.delete(f"{MINE}/{created['id']}", headers=headers).status_code == code
    assert db.execute("SELECT revoked_at FROM hospital_api_keys").fetchone()["revoked_at"] is None


def test_an_authority_without_a_hospital_gets_404(client, world):
    loner = world.make.user("hospital-authority")
    headers = world.make.auth(loner)
    assert client.get(MINE, headers=headers).status_code == 404
    assert client.post(MINE, json={"name": "x"}, headers=headers).status_code == 404


def test_another_hospitals_staff_cannot_revoke(client, world, db):
    created = create(client, world)
    r = client.delete(f"{MINE}/{created['id']}", headers=world.headers["other_authority"])
    assert r.status_code == 404
    assert client.get(counts_url(world.hospital), headers=bearer(created["key"])).status_code == 200


@pytest.mark.parametrize("body", [
    None, {}, {"name": ""}, {"name": "   "}, {"name": 7}, {"name": None}, {"name": "x" * 101},
    {"name": "ok", "key": "rc_mine"}, {"name": "bell\x07"}, ["name"],
])
def test_bad_create_bodies_are_422(client, world, db, body):
    r = client.post(MINE, json=body, headers=world.headers["authority"])
    assert r.status_code == 422, (r.status_code, r.json)
    assert db.execute("SELECT count(*) AS n FROM hospital_api_keys").fetchone()["n"] == 0


@pytest.mark.parametrize("key_id", ["999999", "0", "abc", "99999999999999999999999"])
def test_revoking_an_unknown_key_is_404(client, world, key_id):
    assert client.delete(f"{MINE}/{key_id}", headers=world.headers["authority"]).status_code == 404


def test_a_hospital_holds_a_bounded_number_of_live_keys(app, client, world):
    app.config["API_KEYS_PER_HOSPITAL"] = 2
    first = create(client, world, "a")
    create(client, world, "b")
    assert client.post(MINE, json={"name": "c"}, headers=world.headers["authority"]).status_code == 409
    client.delete(f"{MINE}/{first['id']}", headers=world.headers["authority"])
    create(client, world, "c")


def test_revoked_key_is_401_at_once_and_revoking_twice_is_409(client, world, db):
    created = create(client, world)
    key = bearer(created["key"])
    assert client.get(counts_url(world.hospital), headers=key).status_code == 200
    r = client.delete(f"{MINE}/{created['id']}", headers=world.headers["authority"])
    assert r.status_code == 200
    assert r.json["revokedAt"] is not None and r.json["revokedBy"] == world.authority["id"]
    assert client.put(resources_url(world.hospital), json={"occupied": 1, "reason": "x"},
                      headers=key).status_code == 401
    assert client.get(f"/api/bookings/hospital/{world.hospital['id']}/pending",
                      headers=key).status_code == 401
    assert client.delete(f"{MINE}/{created['id']}",
                         headers=world.headers["authority"]).status_code == 409
    assert [a[1] for a in audit(db, "api_key.revoke")] == [created["id"]]


def test_admins_list_and_revoke_any_hospitals_keys(client, world, db):
    created = create(client, world)
    url = f"/api/admin/hospitals/{world.hospital['id']}/api-keys"
    admin = world.headers["admin"]
    assert [k["id"] for k in client.get(url, headers=admin).json] == [created["id"]]
    other = f"/api/admin/hospitals/{world.other_hospital['id']}/api-keys/{created['id']}"
    assert client.delete(other, headers=admin).status_code == 404
    assert client.get("/api/admin/hospitals/999999/api-keys", headers=admin).status_code == 404
    assert client.get(url, headers=world.headers["authority"]).status_code == 403
    assert client.delete(f"{url}/{created['id']}", headers=admin).status_code == 200
    assert audit(db, "api_key.revoke")[0][0] == world.admin["id"]
    assert client.get(counts_url(world.hospital),
                      headers=bearer(created["key"])).status_code == 401


# --- what a key may do ------------------------------------------------------------------


@freeze_time("2026-03-05 08:00:00")
def test_a_key_sets_counts_audited_with_the_key_as_actor(client, world, db):
    created = create(client, world)
    r = client.put(resources_url(world.hospital),
                   json={"total": 12, "occupied": 5, "reason": "HIS sync"},
                   headers={**bearer(created["key"]), "User-Agent": "his/2.1"})
    assert r.status_code == 200, r.json
    assert (r.json["total"], r.json["occupied"], r.json["available"]) == (12, 5, 7)
    [entry] = db.execute("SELECT * FROM resource_audit_log").fetchall()
    assert (entry["changed_by"], entry["api_key_id"], entry["reason"], entry["user_agent"]) == (
        None, created["id"], "HIS sync", "his/2.1")
    log = client.get(f"/api/hospital-resources/{world.hospital['id']}/audit-log",
                     headers=world.headers["authority"]).json
    assert (log[0]["apiKeyId"], log[0]["apiKeyPrefix"], log[0]["changedBy"]) == (
        created["id"], created["prefix"], None)
    listed = client.get(MINE, headers=world.headers["authority"]).json
    assert listed[0]["lastUsedAt"].startswith("2026-03-05T08:00:00")
    # a person's change is not attributed to a key
    client.put(resources_url(world.hospital), json={"occupied": 1, "reason": "walk-out"},
               headers=world.headers["authority"])
    rows = db.execute("SELECT changed_by, api_key_id FROM resource_audit_log ORDER BY id").fetchall()
    assert rows[1] == {"changed_by": world.authority["id"], "api_key_id": None}


def test_a_key_reads_counts_queue_and_booking_list(client, world):
    key = bearer(create(client, world)["key"])
    world.make.booking(world.patient, world.hospital, urgency="critical")
    hospital_id = world.hospital["id"]
    assert client.get(f"/api/hospital-resources/{hospital_id}", headers=key).status_code == 200
    queue = client.get(f"/api/bookings/hospital/{hospital_id}/pending", headers=key)
    assert queue.status_code == 200 and queue.json["summary"]["totalPending"] == 1
    history = client.get(f"/api/bookings/hospital/{hospital_id}/history", headers=key)
    assert history.status_code == 200 and len(history.json) == 1


def test_a_key_is_404_for_another_hospital(client, world, db):
    key = bearer(create(client, world)["key"])
    other = world.other_hospital
    assert client.put(resources_url(other), json={"occupied": 1, "reason": "x"},
                      headers=key).status_code == 404
    assert client.get(f"/api/hospital-resources/{other['id']}", headers=key).status_code == 404
    assert client.get(f"/api/bookings/hospital/{other['id']}/pending",
                      headers=key).status_code == 404
    assert client.get(f"/api/bookings/hospital/{other['id']}/history",
                      headers=key).status_code == 404
    assert db.execute("SELECT count(*) AS n FROM resource_audit_log").fetchone()["n"] == 0


@pytest.mark.parametrize("method, path", [
    ("GET", "/api/hospitals/my-hospital"),
    ("PUT", "/api/hospitals/my-hospital"),
    ("GET", MINE),
    ("POST", MINE),
    ("GET", "/api/hospitals/my-hospital/staff"),
    ("GET", "/api/hospitals"),
    ("GET", "/api/auth/profile"),
    ("POST", "/api/auth/logout"),
    ("GET", "/api/bookings/search"),
    ("GET", "/api/bookings/{booking}"),
    ("PUT", "/api/bookings/{booking}/approve"),
    ("PUT", "/api/bookings/{booking}/decline"),
    ("GET", "/api/bookings/hospital/{hospital}/statistics"),
    ("GET", "/api/hospital-resources/{hospital}/audit-log"),
    ("GET", "/api/hospital-resources/{hospital}/utilization"),
    ("GET", "/api/hospital-resources/{hospital}/beds/schedule"),
    ("PUT", "/api/pricing/hospitals/{hospital}/beds"),
    ("GET", "/api/payments/history"),
    ("POST", "/api/payments/1/refund"),
    ("GET", "/api/admin/audit-log"),
    ("GET", "/api/health"),
])
def test_every_other_endpoint_is_403_for_a_key(client, world, db, method, path):
    key = create(client, world)["key"]
    booking = world.make.booking(world.patient, world.hospital)
    path = path.format(booking=booking["id"], hospital=world.hospital["id"])
    r = client.open(path, method=method, json={"reason": "x", "name": "y"},
                    headers={**bearer(key), "Idempotency-Key": "k"})
    assert r.status_code == 403, (r.status_code, r.json)
    assert db.execute("SELECT status FROM bookings WHERE id = ?",
                      (booking["id"],)).fetchone()["status"] == "pending"


@pytest.mark.parametrize("token", [
    "rc_" + "A" * 43,  # well formed, unknown
    "rc_short",
    "rc_" + "!" * 43,
    "rc_" + "A" * 600,
    "rc_",
])
def test_unknown_or_malformed_keys_are_401(client, world, token):
    assert client.put(resources_url(world.hospital), json={"occupied": 1, "reason": "x"},
                      headers=bearer(token)).status_code == 401
    assert client.get(f"/api/bookings/hospital/{world.hospital['id']}/pending",
                      headers=bearer(token)).status_code == 401
    # public endpoints too: a system holding a dead key learns it at once
    assert client.get(counts_url(world.hospital), headers=bearer(token)).status_code == 401
    assert client.get("/api/hospitals", headers=bearer(token)).status_code == 401


def test_a_suspended_hospitals_key_is_refused(client, world, db):
    key = bearer(create(client, world)["key"])
    r = client.put(f"/api/admin/hospitals/{world.hospital['id']}/suspend", json={"reason": "audit"},
                   headers=world.headers["admin"])
    assert r.status_code == 200, r.json
    assert client.put(resources_url(world.hospital), json={"occupied": 1, "reason": "x"},
                      headers=key).status_code == 403
    assert client.get(f"/api/bookings/hospital/{world.hospital['id']}/pending",
                      headers=key).status_code == 403


def test_requests_are_rate_limited_per_key(app, client, world):
    app.config["API_KEY_RATE_LIMIT"] = "3/60"
    first, second = (bearer(create(client, world, name)["key"]) for name in ("a", "b"))
    url = f"/api/bookings/hospital/{world.hospital['id']}/pending"
    start = utcnow()
    with freeze_time(start) as clock:
        assert [client.get(url, headers=first).status_code for _ in range(3)] == [200] * 3
        refused = client.get(url, headers=first)
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "60"
        # refused calls of any endpoint count too, and another key has its own window
        assert client.get(url, headers=second).status_code == 200
        clock.tick(timedelta(seconds=30))
        assert client.get(url, headers=first).headers["Retry-After"] == "30"
        clock.tick(timedelta(seconds=31))
        assert client.get(url, headers=first).status_code == 200


@pytest.mark.parametrize("value", ["3", "x/60", "0/60", "3/0", "-1/5"])
def test_a_malformed_rate_limit_refuses_to_start(app, value):
    with pytest.raises(ConfigError, match="API_KEY_RATE_LIMIT"):
        check_config({**app.config, "API_KEY_RATE_LIMIT": value})


def test_a_login_token_beginning_with_rc_still_works(client, world, db):
    """A login token is random URL-safe text: one in 2^18 begins with "rc_" and must not
    be mistaken for a key."""
    token = "rc_" + "b" * 40
    now = utcnow()
    with transaction(db):
        db.execute("INSERT INTO api_tokens (user_id, token_hash, created_at, expires_at) "
                   "VALUES (?, ?, ?, ?)",
                   (world.authority["id"], hashlib.sha256(token.encode()).hexdigest(),
                    now.isoformat(), (now + timedelta(hours=1)).isoformat()))
    assert client.get("/api/hospitals/my-hospital", headers=bearer(token)).status_code == 200


@pytest.mark.postgres_only
def test_a_keys_request_acts_as_its_hospital_under_row_level_security(app, client, world):
    key = create(client, world)["key"]
    world.make.booking(world.patient, world.hospital)
    world.make.booking(world.other_patient, world.other_hospital)
    with app.test_request_context(headers=bearer(key)):
        assert current_user.api_key_id is not None
        conn = get_db()
        actor = conn.execute(
            "SELECT current_setting('app.user_id') AS user_id, current_setting('app.role') AS role,"
            " current_setting('app.hospital_id') AS hospital_id").fetchone()
        assert actor == {"user_id": "", "role": "hospital-authority",
                         "hospital_id": str(world.hospital["id"])}
        # a deliberately unscoped read sees its own hospital's bookings only
        seen = {r["hospital_id"] for r in conn.execute("SELECT hospital_id FROM bookings")}
        assert seen == {world.hospital["id"]}


# --- over real HTTP: several workers, one limit --------------------------------------


@pytest.mark.slow
def test_the_rate_limit_holds_across_workers_over_http(tmp_path):
    limit, sent = 5, 12
    with LiveServer(tmp_path, workers=3, env={"RAPIDCARE_API_KEY_RATE_LIMIT": f"{limit}/600"}) as server:
        conn = server.connect()
        world = build_world(Factory(conn))
        created = requests.post(server.url + MINE, json={"name": "HIS"},
                                headers=world.headers["authority"], timeout=30).json()
        url = f"{server.url}/api/hospital-resources/{world.hospital['id']}/beds"
        barrier = threading.Barrier(sent)

        def one(n):
            barrier.wait()
            return requests.put(url, json={"occupied": n % 3, "reason": "feed"},
                                headers=bearer(created["key"]), timeout=60).status_code

        with ThreadPoolExecutor(sent) as pool:
            statuses = Counter(pool.map(one, range(sent)))
        used = conn.execute("SELECT count(*) AS n FROM resource_audit_log WHERE api_key_id = ?",
                            (created["id"],)).fetchone()["n"]
        conn.close()
    assert statuses == {200: limit, 429: sent - limit}
    assert used == limit
