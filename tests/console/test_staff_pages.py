"""The hospital staff pages through the test client: queue, approve/decline, board,
bookings, a booking's page, notifications, the occupancy chart."""
import re
from datetime import timedelta

import pytest

from app.bookings import service as bookings_service
from app.timeutil import to_iso, utcnow
from tests.console.helpers import send, signed_in, text


@pytest.fixture
def staff(client, world):
    return signed_in(client, world.authority)


def _resource(db, hospital, resource_type="beds"):
    return db.execute("SELECT * FROM hospital_resources WHERE hospital_id = ? AND resource_type = ?",
                      (hospital["id"], resource_type)).fetchone()


def _status(db, booking):
    return db.execute("SELECT status FROM bookings WHERE id = ?", (booking["id"],)).fetchone()["status"]


def test_the_queue_is_in_the_api_order_with_waiting_times(staff, world, db):
    make = world.make
    low = make.booking(world.patient, world.hospital, urgency="low")
    critical = make.booking(world.other_patient, world.hospital, urgency="critical")
    medium = make.booking(world.patient, world.hospital, urgency="medium",
                          scheduled_in=timedelta(days=3))
    make.booking(world.patient, world.other_hospital, urgency="critical")  # not this hospital's

    page = text(staff.get("/console/queue"))
    shown = re.findall(r'id="request-(\d+)"', page)
    api_order, _ = bookings_service.pending_queue(db, world.hospital["id"], actor=_actor(world),
                                                  now=utcnow(), limit=100, offset=0)
    assert shown == [str(item["id"]) for item in api_order["items"]]
    assert shown == [str(critical["id"]), str(medium["id"]), str(low["id"])]
    assert 'data-count="total-pending">3<' in page
    assert "waiting 0s" in page or "waiting 1s" in page


def _actor(world):
    from app.auth.session import CurrentUser
    user = world.authority
    return CurrentUser(id=user["id"], name=user["name"], email=user["email"],
                       role=user["role"], hospital_id=user["hospital_id"])


def test_approving_from_the_queue_allocates_a_unit_and_says_so(staff, world, db):
    booking = world.make.booking(world.patient, world.hospital)
    before = _resource(db, world.hospital)["available"]

    response = send(staff, f"/console/bookings/{booking['id']}/approve",
                    {"return_to": "queue", "reason": "bed 12 ready"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/console/queue")
    page = text(staff.get("/console/queue"))
    assert f"Approved {booking['booking_reference']}: one unit allocated" in page
    # scheduled capacity: the booking holds its bed during its window, two days ahead, so
    # what is available now (and the hand-marked counters) does not change
    assert f"{before} of 10 beds now available" in page
    assert 'data-count="total-pending">0<' in page

    assert _status(db, booking) == "approved"
    assert _resource(db, world.hospital)["available"] == before
    history = db.execute("SELECT reason FROM booking_status_history WHERE booking_id = ? "
                         "ORDER BY id DESC LIMIT 1", (booking["id"],)).fetchone()
    assert history["reason"] == "bed 12 ready"


def test_a_refused_approval_is_shown_and_changes_nothing(staff, world, db):
    booking = world.make.booking(world.patient, world.hospital, resource_type="icu")  # no icu price
    response = send(staff, f"/console/bookings/{booking['id']}/approve", {"return_to": "queue"},
                    follow=True)
    assert response.status_code == 200
    assert "no active price for icu" in text(response)
    assert _status(db, booking) == "pending"


def test_declining_needs_a_reason(staff, world, db):
    booking = world.make.booking(world.patient, world.hospital)
    response = send(staff, f"/console/bookings/{booking['id']}/decline", {"reason": "  "},
                    follow=True)
    assert "reason: Missing data for required field." in text(response)
    assert _status(db, booking) == "pending"

    response = send(staff, f"/console/bookings/{booking['id']}/decline",
                    {"reason": "no ventilator", "return_to": "booking"})
    assert response.headers["Location"].endswith(f"/console/bookings/{booking['id']}")
    assert _status(db, booking) == "declined"
    page = text(staff.get(f"/console/bookings/{booking['id']}"))
    assert f"Declined {booking['booking_reference']}" in page
    assert "no ventilator" in page  # in the history


def test_another_hospitals_booking_is_a_404_page(staff, world, db):
    other = world.make.booking(world.patient, world.other_hospital)
    page = staff.get(f"/console/bookings/{other['id']}")
    assert page.status_code == 404
    assert page.content_type.startswith("text/html")
    assert "Booking not found." in text(page)
    for action in ("approve", "decline", "complete"):
        response = send(staff, f"/console/bookings/{other['id']}/{action}", {"reason": "x"})
        assert response.status_code == 404
    assert _status(db, other) == "pending"
    assert staff.get("/console/bookings/999999").status_code == 404
    assert staff.get("/console/bookings/99999999999999999999999").status_code == 404


def test_a_booking_page_shows_details_history_and_payment(staff, world):
    booking = world.make.booking(world.patient, world.hospital)
    page = text(staff.get(f"/console/bookings/{booking['id']}"))
    assert booking["patient_name"] in page
    assert "Nothing is due until the booking is approved." in page

    send(staff, f"/console/bookings/{booking['id']}/approve", {"return_to": "booking"})
    page = text(staff.get(f"/console/bookings/{booking['id']}"))
    payment = re.search(r'<dl class="pairs" id="payment">(.*?)</dl>', page, re.S).group(1)
    assert "<dd>pending</dd>" in payment
    assert "BDT" in payment
    assert "pending → approved" in page

    send(staff, f"/console/bookings/{booking['id']}/complete", {"return_to": "booking"})
    assert "approved → completed" in text(staff.get(f"/console/bookings/{booking['id']}"))


def test_editing_a_count_saves_it_with_its_reason(staff, world, db):
    response = send(staff, "/console/board/beds", {"total": "12", "maintenance": "2",
                                                   "reason": "ward B reopened"}, follow=True)
    assert "beds: saved. Now 10 available of 12" in text(response)
    row = _resource(db, world.hospital)
    assert (row["total"], row["maintenance"], row["available"]) == (12, 2, 10)
    audit = db.execute("SELECT reason, action FROM resource_audit_log WHERE hospital_id = ? "
                       "ORDER BY id DESC LIMIT 1", (world.hospital["id"],)).fetchone()
    assert audit == {"reason": "ward B reopened", "action": "update"}


def test_a_new_resource_type_is_added_from_the_board(staff, world, db):
    send(staff, "/console/board/operationTheatres", {"total": "3", "reason": "opened"})
    assert _resource(db, world.hospital, "operationTheatres")["available"] == 3


@pytest.mark.parametrize("form, message", [
    ({"total": "12"}, "reason: Missing data for required field."),
    ({"total": "-1", "reason": "x"}, "total: must be a whole number"),
    ({"total": "ten", "reason": "x"}, "total: must be a whole number"),
    ({"total": "9" * 40, "reason": "x"}, "total: must be a whole number"),
    ({"total": "100001", "reason": "x"}, "total: Must be greater than or equal to 0"),
    ({"reason": "nothing to change"}, "Send at least one of: total"),
    ({"total": "1", "occupied": "5", "reason": "x"}, "total (1) is below occupied"),
])
def test_bad_counts_are_refused_with_a_reason(staff, world, db, form, message):
    before = _resource(db, world.hospital)
    response = send(staff, "/console/board/beds", form, follow=True)
    assert response.status_code == 200
    assert message in text(response)
    assert _resource(db, world.hospital) == before


def test_an_unknown_resource_type_is_a_404(staff):
    assert send(staff, "/console/board/helipads", {"total": "1", "reason": "x"}).status_code == 404


def test_bookings_lists_today_and_upcoming(staff, world):
    make = world.make
    soon = make.booking(world.patient, world.hospital, scheduled_in=timedelta(minutes=5))
    later = make.booking(world.patient, world.hospital, scheduled_in=timedelta(days=5))
    declined = make.booking(world.other_patient, world.hospital, status="declined")
    page = text(staff.get("/console/bookings"))
    today_part, upcoming_part = page.split("<h2>Upcoming</h2>")
    assert later["booking_reference"] in upcoming_part
    assert soon["booking_reference"] in page
    assert declined["booking_reference"] not in page


def test_notifications_are_listed_and_marked_read(staff, world, db):
    booking = world.make.booking(world.patient, world.hospital)  # the trigger notifies staff
    page = text(staff.get("/console/notifications"))
    assert f"Booking {booking['booking_reference']}" in page
    assert "1 unread." in page
    send(staff, "/console/notifications/read-all")
    assert "0 unread." in text(staff.get("/console/notifications"))
    unread = db.execute("SELECT count(*) AS n FROM booking_notifications WHERE user_id = ? "
                        "AND is_read = FALSE", (world.authority["id"],)).fetchone()["n"]
    assert unread == 0


def test_someone_elses_notification_is_a_404(staff, world, db):
    world.make.booking(world.patient, world.hospital)
    theirs = db.execute("SELECT id FROM booking_notifications WHERE user_id = ?",
                        (world.patient["id"],)).fetchone()["id"]
    assert send(staff, f"/console/notifications/{theirs}/read").status_code == 404


def test_the_occupancy_chart_shows_todays_peak(staff, world, db):
    # scheduled capacity: approving tomorrow's bookings occupies nothing today, so today's
    # peak comes from a hold whose window contains now and a walk-in marked by hand
    bookings = [world.make.booking(world.patient, world.hospital, scheduled_in=timedelta(days=d))
                for d in (1, 2)]
    now = utcnow()
    db.execute("UPDATE bookings SET scheduled_date = ?, scheduled_end = ? WHERE id = ?",
               (to_iso(now - timedelta(hours=1)), to_iso(now + timedelta(hours=5)),
                bookings[0]["id"]))
    for booking in bookings:
        send(staff, f"/console/bookings/{booking['id']}/approve", {"return_to": "queue"})
    client = world.make.auth(world.authority)
    r = staff.put(f"/api/hospital-resources/{world.hospital['id']}/beds",
                  json={"occupied": 1, "reason": "walk-in"}, headers=client)
    assert r.status_code == 200, r.json
    send(staff, f"/console/bookings/{bookings[0]['id']}/complete", {"return_to": "queue"})
    page = text(staff.get("/console/occupancy"))
    assert '<svg viewBox="0 0 640 220" role="img"' in page
    assert page.count('class="bar"') == 1  # only today has data
    assert "at most 2 of 10 occupied" in page  # the peak, though one was released since


@pytest.mark.parametrize("page", ["0", "-1", "abc", "9999999"])
def test_a_bad_page_number_is_a_404(staff, page):
    assert staff.get(f"/console/queue?page={page}").status_code == 404


def test_an_authority_without_a_hospital_gets_a_clear_page(client, world):
    homeless = world.make.user("hospital-authority")
    signed_in(client, homeless)
    response = client.get("/console/queue")
    assert response.status_code == 404
    assert "not linked to a hospital yet" in text(response)


def test_no_patient_data_in_any_link_or_form_address(staff, world):
    booking = world.make.booking(world.patient, world.hospital)
    for path in ("/console/queue", "/console/bookings", f"/console/bookings/{booking['id']}",
                 "/console/notifications"):
        page = text(staff.get(path))
        assert booking["patient_name"] in page or path == "/console/notifications"
        for address in re.findall(r'(?:href|action)="([^"]*)"', page):
            assert booking["patient_name"] not in address
            assert "Patient" not in address and "Observation" not in address
