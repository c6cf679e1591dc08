"""The mails users expect, through the API, the outbox, the delivery job and a real
SMTP server: booking approved / declined (with the hospital's notes), payment
receipt, refund, blood match; plain text, the booking reference, the hospital's
time zone; and the per-user switch for non-essential mail."""
from datetime import timedelta
from zoneinfo import ZoneInfo

from app.timeutil import from_iso, utcnow
from tests.bookings.helpers import booking_body
from tests.mail.helpers import deliver, outbox, text, to
from tests.payments.helpers import fund, key_headers


def book(client, world, **overrides):
    r = client.post("/api/bookings", json=booking_body(world.hospital, **overrides),
                    headers=world.headers["patient"])
    assert r.status_code == 201, r.json
    return r.json


def delivered(smtp, mail_config, address):
    status, message = deliver(mail_config)
    assert status == "succeeded", message
    return to(smtp.messages, address)


def hospital_time(iso, zone):
    local = from_iso(iso).astimezone(ZoneInfo(zone))
    return f"{local:%A} {local.day} {local:%B %Y, %H:%M} ({zone})"


def test_approval_mails_the_reference_notes_amount_in_the_hospitals_time_zone(client, db, world,
                                                                             smtp, mail_config):
    # Not the platform's zone: the mail must use the hospital's own.
    db.execute("UPDATE hospitals SET timezone = 'Asia/Kolkata' WHERE id = ?", (world.hospital["id"],))
    booking = book(client, world)
    r = client.put(f"/api/bookings/{booking['id']}/approve", json={"reason": "Bring old X-rays."},
                   headers=world.headers["authority"])
    assert r.status_code == 200, r.json
    [message] = delivered(smtp, mail_config, world.patient["email"])
    assert message["Subject"] == f"Booking {booking['bookingReference']} approved"
    assert message.get_content_type() == "text/plain"
    body = text(message)
    assert booking["bookingReference"] in body and world.hospital["name"] in body
    assert hospital_time(booking["scheduledDate"], "Asia/Kolkata") in body
    assert "Notes from the hospital:\nBring old X-rays." in body
    assert "Amount due:        1500.00 BDT" in body


def test_decline_mails_the_reason(client, world, smtp, mail_config):
    booking = book(client, world)
    r = client.put(f"/api/bookings/{booking['id']}/decline", json={"reason": "No ICU team tonight."},
                   headers=world.headers["authority"])
    assert r.status_code == 200, r.json
    [message] = delivered(smtp, mail_config, world.patient["email"])
    assert message["Subject"] == f"Booking {booking['bookingReference']} declined"
    assert "has declined your booking request" in text(message)
    assert "Notes from the hospital:\nNo ICU team tonight." in text(message)
    assert "Amount due" not in text(message)


def test_a_refused_approval_mails_nothing(client, db, world):
    booking = book(client, world)
    db.execute("UPDATE hospital_pricing SET effective_to = ? WHERE hospital_id = ?",
               (utcnow().isoformat(), world.hospital["id"]))  # no price: approval is a 409
    r = client.put(f"/api/bookings/{booking['id']}/approve", headers=world.headers["authority"])
    assert r.status_code == 409
    assert outbox(db, "kind LIKE 'booking%'") == []


def test_wallet_payment_mails_a_receipt_and_cancellation_a_refund(client, db, make, world, smtp,
                                                                  mail_config):
    booking = book(client, world, scheduledDate=(utcnow() + timedelta(days=3)).isoformat())
    client.put(f"/api/bookings/{booking['id']}/approve", headers=world.headers["authority"])
    fund(db, world.patient, 200_000)
    r = client.post("/api/payments/process", json={"bookingId": booking["id"], "method": "wallet"},
                    headers=key_headers(make, world.patient))
    assert r.status_code == 200, r.json
    r = client.delete(f"/api/bookings/{booking['id']}", json={"reason": "Recovered"},
                      headers=world.headers["patient"])
    assert r.status_code == 200, r.json
    approved, receipt, refund = delivered(smtp, mail_config, world.patient["email"])
    assert receipt["Subject"] == f"Receipt for booking {booking['bookingReference']}"
    assert "Amount paid:       1500.00 BDT" in text(receipt) and "Paid by:           wallet" in text(receipt)
    assert refund["Subject"] == f"Refund for booking {booking['bookingReference']}"
    assert "a refund of 1500.00 BDT" in text(refund) and "credited to your RapidCare wallet" in text(refund)
    assert booking["bookingReference"] in text(refund)


def test_a_volunteer_mails_the_requester_without_the_donors_phone(client, db, world, smtp, mail_config):
    r = client.post("/api/blood/request", headers=world.headers["other_patient"], json={
        "patientName": "Abdul", "bloodType": "A+", "unitsNeeded": 2, "urgency": "high",
        "contactPhone": "+8801711000000", "location": "Dhaka"})
    assert r.status_code == 201, r.json
    request_id = r.json["id"]
    r = client.post(f"/api/blood/requests/{request_id}/match", headers=world.headers["patient"],
                    json={"donorBloodType": "O-", "phone": "+8801899999999"})
    assert r.status_code == 201, r.json
    [message] = delivered(smtp, mail_config, world.other_patient["email"])
    assert message["Subject"] == f"A donor volunteered for blood request #{request_id}"
    assert world.patient["name"] in text(message) and "(O-)" in text(message)
    assert "8801899999999" not in text(message)


def test_notifications_off_stops_non_essential_mail_only(client, db, world, smtp, mail_config):
    r = client.put("/api/auth/profile", json={"emailNotifications": False},
                   headers=world.headers["patient"])
    assert r.status_code == 200 and r.json["emailNotifications"] is False
    booking = book(client, world)
    client.put(f"/api/bookings/{booking['id']}/decline", json={"reason": "Full"},
               headers=world.headers["authority"])
    assert outbox(db) == []
    r = client.put("/api/auth/profile", json={"emailNotifications": True},
                   headers=world.headers["patient"])
    assert r.json["emailNotifications"] is True
    other = book(client, world, resourceType="icu")
    client.put(f"/api/bookings/{other['id']}/decline", json={"reason": "Full"},
               headers=world.headers["authority"])
    assert [m["Subject"] for m in delivered(smtp, mail_config, world.patient["email"])] == [
        f"Booking {other['bookingReference']} declined"]
