"""Issue #16, item 6: a booking shows its payment (paymentStatus, amountDue, paidAt), and
paying notifies the patient and the hospital's staff."""
import uuid

import pytest

from tests.factories import build_world
from tests.payments.helpers import fund


@pytest.fixture
def world(make):
    return build_world(make, resources={"beds": 5}, prices={"beds": 150000})


def approve(client, world, booking):
    r = client.put(f"/api/bookings/{booking['id']}/approve", headers=world.headers["authority"])
    assert r.status_code == 200, r.json
    return r.json


def pay(client, world, booking, who="patient"):
    return client.post("/api/payments/process",
                       json={"bookingId": booking["id"], "method": "wallet"},
                       headers={**world.headers[who], "Idempotency-Key": str(uuid.uuid4())})


def shown(client, world, booking, who="patient"):
    r = client.get(f"/api/bookings/{booking['id']}", headers=world.headers[who])
    assert r.status_code == 200, r.json
    return {key: r.json[key] for key in ("paymentStatus", "amountDue", "paidAt")}


def notices(db, user, type_):
    return db.execute(
        "SELECT booking_id, message FROM booking_notifications WHERE user_id = ? AND type = ?",
        (user["id"], type_),
    ).fetchall()


def test_a_booking_shows_its_payment_from_approval_to_refund(client, db, world):
    booking = world.make.booking(world.patient, world.hospital)
    assert shown(client, world, booking) == {
        "paymentStatus": "not_required", "amountDue": "0.00", "paidAt": None}

    approved = approve(client, world, booking)
    assert (approved["paymentStatus"], approved["amountDue"], approved["paidAt"]) == (
        "unpaid", "1500.00", None)
    assert shown(client, world, booking) == {
        "paymentStatus": "unpaid", "amountDue": "1500.00", "paidAt": None}

    fund(db, world.patient, 200_000)
    paid = pay(client, world, booking)
    assert paid.status_code == 200, paid.json
    for who in ("patient", "authority", "admin"):
        seen = shown(client, world, booking, who)
        assert seen["paymentStatus"] == "paid" and seen["amountDue"] == "0.00"
        assert seen["paidAt"] == paid.json["completedAt"]

    payment_id = paid.json["id"]
    r = client.post(f"/api/payments/{payment_id}/refund", json={"amount": "500.00", "reason": "x"},
                    headers={**world.headers["authority"], "Idempotency-Key": str(uuid.uuid4())})
    assert r.status_code in (200, 201), r.json
    assert shown(client, world, booking)["paymentStatus"] == "partially_refunded"
    r = client.post(f"/api/payments/{payment_id}/refund", json={"amount": "1000.00", "reason": "x"},
                    headers={**world.headers["authority"], "Idempotency-Key": str(uuid.uuid4())})
    assert r.status_code in (200, 201), r.json
    assert shown(client, world, booking)["paymentStatus"] == "refunded"


def test_payment_status_is_in_the_lists_too(client, db, world):
    booking = world.make.booking(world.patient, world.hospital)
    approve(client, world, booking)
    [mine] = client.get("/api/bookings/my-bookings", headers=world.headers["patient"]).json
    assert mine["paymentStatus"] == "unpaid" and mine["amountDue"] == "1500.00"


def test_a_completed_booking_still_owes_until_paid(client, db, world):
    booking = world.make.booking(world.patient, world.hospital)
    approve(client, world, booking)
    r = client.put(f"/api/bookings/{booking['id']}/complete", headers=world.headers["authority"])
    assert r.status_code == 200
    assert (r.json["paymentStatus"], r.json["amountDue"]) == ("unpaid", "1500.00")


def test_cancelled_before_paying_owes_nothing(client, db, world):
    booking = world.make.booking(world.patient, world.hospital)
    approve(client, world, booking)
    r = client.delete(f"/api/bookings/{booking['id']}", headers=world.headers["patient"])
    assert r.status_code == 200, r.json
    assert shown(client, world, booking) == {
        "paymentStatus": "not_required", "amountDue": "0.00", "paidAt": None}


def test_a_free_booking_owes_nothing(client, db, make):
    world = build_world(make, resources={"beds": 5}, prices={"beds": 0})
    booking = world.make.booking(world.patient, world.hospital)
    approved = approve(client, world, booking)
    assert (approved["paymentStatus"], approved["amountDue"]) == ("not_required", "0.00")


def test_paying_notifies_the_patient_and_every_active_authority(client, db, world, make):
    second = make.authority(world.hospital)
    inactive = make.user("hospital-authority", hospital_id=world.hospital["id"], status="inactive")
    booking = world.make.booking(world.patient, world.hospital)
    approve(client, world, booking)
    assert notices(db, world.patient, "payment_completed") == []
    fund(db, world.patient, 200_000)
    assert pay(client, world, booking).status_code == 200

    [patient_notice] = notices(db, world.patient, "payment_completed")
    assert patient_notice["booking_id"] == booking["id"]
    assert "1500.00 BDT" in patient_notice["message"]
    assert booking["booking_reference"] in patient_notice["message"]
    for staff in (world.authority, second):
        [notice] = notices(db, staff, "payment_received")
        assert notice["booking_id"] == booking["id"] and "1500.00 BDT" in notice["message"]
    assert notices(db, inactive, "payment_received") == []
    assert notices(db, world.other_authority, "payment_received") == []
    # the patient reads it over HTTP
    listed = client.get("/api/bookings/notifications", headers=world.headers["patient"]).json
    assert "payment_completed" in [n["type"] for n in listed["items"]]


def test_a_failed_payment_notifies_nobody(client, db, world):
    booking = world.make.booking(world.patient, world.hospital)
    approve(client, world, booking)
    r = pay(client, world, booking)  # an empty wallet: 402
    assert r.status_code == 402
    assert notices(db, world.patient, "payment_completed") == []
    assert notices(db, world.authority, "payment_received") == []
    assert shown(client, world, booking)["paymentStatus"] == "unpaid"


@pytest.mark.parametrize("role, code", [("anonymous", 401), ("other_patient", 404),
                                        ("other_authority", 404)])
def test_others_do_not_see_the_bookings_payment(client, world, role, code):
    booking = world.make.booking(world.patient, world.hospital)
    approve(client, world, booking)
    r = client.get(f"/api/bookings/{booking['id']}", headers=world.headers[role])
    assert r.status_code == code
