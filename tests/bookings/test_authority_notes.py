"""Issue #16, item 5: the hospital's notes on approve and decline, shown to the patient
on the booking, in its history and in the notification."""
import pytest

NOTES = "Bring your reports, admission at 9"


def act(client, world, booking, action, who="authority", **body):
    return client.put(f"/api/bookings/{booking['id']}/{action}", json=body or None,
                      headers=world.headers[who])


def patient_notifications(db, user_id):
    return db.execute(
        "SELECT type, message FROM booking_notifications WHERE user_id = ? ORDER BY id", (user_id,)
    ).fetchall()


@pytest.mark.parametrize("who", ["authority", "admin"])
def test_notes_on_approval_reach_the_patient(client, db, world, who):
    booking = world.make.booking(world.patient, world.hospital)
    r = act(client, world, booking, "approve", who=who, notes=f"  {NOTES}  ")
    assert r.status_code == 200, r.json
    assert r.json["authorityNotes"] == NOTES

    seen = client.get(f"/api/bookings/{booking['id']}", headers=world.headers["patient"])
    assert seen.json["authorityNotes"] == NOTES
    history = client.get(f"/api/bookings/{booking['id']}/history",
                         headers=world.headers["patient"]).json
    assert [(h["newStatus"], h["notes"]) for h in history] == [
        ("pending", None), ("approved", NOTES)]
    last = patient_notifications(db, world.patient["id"])[-1]
    # The notice says notes were added; it does not quote them (notification messages are
    # stored unencrypted, so no personal text goes there: migration 0120).
    assert last["type"] == "booking_approved" and NOTES not in last["message"]
    assert "The hospital added notes to the booking." in last["message"]


def test_notes_on_decline_reach_the_patient(client, db, world):
    booking = world.make.booking(world.patient, world.hospital)
    r = act(client, world, booking, "decline", reason="No ICU bed tonight",
            notes="Try Sylhet General, they have space")
    assert r.status_code == 200, r.json
    assert r.json["authorityNotes"] == "Try Sylhet General, they have space"
    assert r.json["statusReason"] == "No ICU bed tonight"
    history = client.get(f"/api/bookings/{booking['id']}/history",
                         headers=world.headers["patient"]).json
    assert history[-1]["notes"] == "Try Sylhet General, they have space"
    last = patient_notifications(db, world.patient["id"])[-1]
    assert last["type"] == "booking_declined"
    assert "No ICU bed tonight" in last["message"] and "Try Sylhet General" not in last["message"]
    assert "The hospital added notes to the booking." in last["message"]


def test_later_changes_keep_the_notes_on_the_booking_but_do_not_repeat_them(client, db, world):
    booking = world.make.booking(world.patient, world.hospital)
    act(client, world, booking, "approve", notes=NOTES)
    r = act(client, world, booking, "complete")
    assert r.status_code == 200 and r.json["authorityNotes"] == NOTES
    history = client.get(f"/api/bookings/{booking['id']}/history",
                         headers=world.headers["patient"]).json
    assert [(h["newStatus"], h["notes"]) for h in history] == [
        ("pending", None), ("approved", NOTES), ("completed", None)]
    last = patient_notifications(db, world.patient["id"])[-1]
    assert last["type"] == "booking_completed" and NOTES not in last["message"]


@pytest.mark.parametrize("body", [None, {}, {"notes": None}, {"notes": ""}, {"notes": "   "}])
def test_notes_are_optional(client, db, world, body):
    booking = world.make.booking(world.patient, world.hospital)
    r = client.put(f"/api/bookings/{booking['id']}/approve", json=body,
                   headers=world.headers["authority"])
    assert r.status_code == 200, r.json
    assert r.json["authorityNotes"] is None
    assert "added notes" not in patient_notifications(db, world.patient["id"])[-1]["message"]


@pytest.mark.parametrize("action", ["approve", "decline"])
@pytest.mark.parametrize("notes", ["x" * 2001, 42, ["a"], "bell\x07"])
def test_bad_notes_are_422_and_change_nothing(client, db, world, action, notes):
    booking = world.make.booking(world.patient, world.hospital)
    r = act(client, world, booking, action, reason="why", notes=notes)
    assert r.status_code == 422, r.json
    assert "notes" in r.json["errors"]["json"]
    row = db.execute("SELECT status, authority_notes FROM bookings WHERE id = ?",
                     (booking["id"],)).fetchone()
    assert row == {"status": "pending", "authority_notes": None}


@pytest.mark.parametrize("role, code", [("anonymous", 401), ("patient", 403),
                                        ("other_authority", 404)])
@pytest.mark.parametrize("action", ["approve", "decline"])
def test_only_the_hospitals_staff_give_notes(client, db, world, role, action, code):
    booking = world.make.booking(world.patient, world.hospital)
    r = act(client, world, booking, action, who=role, reason="why", notes=NOTES)
    assert r.status_code == code
    row = db.execute("SELECT status, authority_notes FROM bookings WHERE id = ?",
                     (booking["id"],)).fetchone()
    assert row == {"status": "pending", "authority_notes": None}


def test_other_patients_do_not_see_the_notes(client, world):
    booking = world.make.booking(world.patient, world.hospital)
    act(client, world, booking, "approve", notes=NOTES)
    r = client.get(f"/api/bookings/{booking['id']}", headers=world.headers["other_patient"])
    assert r.status_code == 404
