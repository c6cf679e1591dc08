"""Hospital staff pages: the live board, the triage queue, bookings, notifications,
the occupancy chart. Every page works on the signed-in authority's own hospital."""
from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.bookings import service as bookings_service
from app.bookings.schemas import DeclineSchema, OptionalReasonSchema
from app.console import bp, chart, forms
from app.console.access import staff_page
from app.db import get_db
from app.errors import NotFound
from app.hospitals.service import managed_hospital
from app.payments import service as payments_service
from app.resources import RESOURCE_TYPE_CONVERTER
from app.resources import service as resources_service
from app.resources.schemas import ResourceUpdateSchema
from app.timeutil import utcnow
from app.vocabulary import RESOURCE_TYPES

# All of a busy hospital's queue on one page (benchmarks/console_queue.py times 200).
QUEUE_PAGE_SIZE = 200
UPCOMING_LIMIT = 200
NOTIFICATIONS_PAGE_SIZE = 50
OCCUPANCY_DAYS = 30
# Where a booking action returns to: a fixed choice, never a URL from the form.
RETURN_PAGES = {"queue": "console.queue", "booking": "console.booking"}


def _hospital_id():
    """The signed-in authority's hospital; a 404 page for an authority without one."""
    if current_user.hospital_id is None:
        raise NotFound("Your account is not linked to a hospital yet. Register your hospital "
                       "(POST /api/hospitals) and wait for an administrator's approval.")
    return current_user.hospital_id


def _origin():
    """Where the request came from, for the resource audit log (as the API records it)."""
    return {"ip_address": request.remote_addr, "user_agent": request.user_agent.string}


def _page_number():
    raw = request.args.get("page", "1")
    if not (raw.isascii() and raw.isdigit() and 1 <= len(raw) <= 6 and int(raw) >= 1):
        raise NotFound("No such page.")
    return int(raw)


# --- the live board ---------------------------------------------------------------

@bp.get("/board")
@staff_page
def board():
    conn = get_db()
    hospital = managed_hospital(conn, _hospital_id(), current_user)
    resources = {row["resource_type"]: row
                 for row in resources_service.list_for_hospital(conn, hospital["id"], current_user)}
    return render_template("console/staff/board.html", hospital=hospital, resources=resources,
                           resource_types=RESOURCE_TYPES)


@bp.post(f"/board/<{RESOURCE_TYPE_CONVERTER}:resource_type>")
@staff_page
def edit_counts(resource_type):
    def save():
        changes = forms.load(ResourceUpdateSchema(), request.form,
                             whole_numbers=("total", "occupied", "reserved", "maintenance"),
                             texts=("reason",))
        reason = changes.pop("reason")
        return resources_service.set_counts(
            get_db(), _hospital_id(), resource_type, changes, current_user, reason=reason,
            now=utcnow(), **_origin(),
        )

    row = forms.attempt(save)
    if row is not None:
        flash(f"{resource_type}: saved. Now {row['available']} available of {row['total']} "
              f"({row['occupied']} occupied, {row['reserved']} reserved, "
              f"{row['maintenance']} in maintenance).", "ok")
    return redirect(url_for("console.board"))


# --- the triage queue -------------------------------------------------------------

@bp.get("/queue")
@staff_page
def queue():
    conn = get_db()
    hospital_id = _hospital_id()
    page_number = _page_number()
    page, total = bookings_service.pending_queue(
        conn, hospital_id, actor=current_user, now=utcnow(), limit=QUEUE_PAGE_SIZE,
        offset=(page_number - 1) * QUEUE_PAGE_SIZE,
    )
    resources = resources_service.list_for_hospital(conn, hospital_id, current_user)
    last_page = max(1, -(-total // QUEUE_PAGE_SIZE))
    return render_template("console/staff/queue.html", page=page, resources=resources,
                           page_number=page_number, last_page=last_page)


def _back_to(booking_id):
    target = RETURN_PAGES.get(request.form.get("return_to"), "console.queue")
    if target == "console.booking":
        return redirect(url_for(target, booking_id=booking_id))
    return redirect(url_for(target))


def _availability_after(booking):
    row = resources_service.availability(get_db(), booking["hospital_id"],
                                         booking["resource_type"], current_user)
    return f"{row['available']} of {row['total']} {booking['resource_type']} now available"


@bp.post("/bookings/<int:booking_id>/approve")
@staff_page
def approve(booking_id):
    def run():
        data = forms.load(OptionalReasonSchema(), request.form, texts=("reason",))
        return bookings_service.approve_booking(
            get_db(), booking_id, actor=current_user, reason=data["reason"], now=utcnow(),
            **_origin(),
        )

    booking = forms.attempt(run)
    if booking is not None:
        flash(f"Approved {booking['booking_reference']}: one unit allocated, "
              f"{_availability_after(booking)}.", "ok")
    return _back_to(booking_id)


@bp.post("/bookings/<int:booking_id>/decline")
@staff_page
def decline(booking_id):
    def run():
        data = forms.load(DeclineSchema(), request.form, texts=("reason",))
        return bookings_service.decline_booking(
            get_db(), booking_id, actor=current_user, reason=data["reason"], now=utcnow()
        )

    booking = forms.attempt(run)
    if booking is not None:
        flash(f"Declined {booking['booking_reference']}; the patient is notified.", "ok")
    return _back_to(booking_id)


@bp.post("/bookings/<int:booking_id>/complete")
@staff_page
def complete(booking_id):
    def run():
        data = forms.load(OptionalReasonSchema(), request.form, texts=("reason",))
        return bookings_service.complete_booking(
            get_db(), booking_id, actor=current_user, reason=data["reason"], now=utcnow(),
            **_origin(),
        )

    booking = forms.attempt(run)
    if booking is not None:
        flash(f"Completed {booking['booking_reference']}: its unit is released, "
              f"{_availability_after(booking)}.", "ok")
    return _back_to(booking_id)


# --- bookings ---------------------------------------------------------------------

@bp.get("/bookings")
@staff_page
def bookings():
    today, later = bookings_service.upcoming_bookings(
        get_db(), _hospital_id(), actor=current_user, now=utcnow(), limit=UPCOMING_LIMIT
    )
    return render_template("console/staff/bookings.html", today=today, later=later,
                           limit=UPCOMING_LIMIT)


@bp.get("/bookings/<int:booking_id>")
@staff_page
def booking(booking_id):
    conn = get_db()
    found = bookings_service.get_booking(conn, booking_id, actor=current_user)
    return render_template(
        "console/staff/booking.html", booking=found,
        history=bookings_service.booking_history(conn, booking_id, actor=current_user),
        payment=payments_service.booking_payment(conn, user=current_user, booking=found),
    )


# --- notifications ----------------------------------------------------------------

@bp.get("/notifications")
@staff_page
def notifications():
    page_number = _page_number()
    page, total = bookings_service.list_notifications(
        get_db(), actor=current_user, is_read=None, limit=NOTIFICATIONS_PAGE_SIZE,
        offset=(page_number - 1) * NOTIFICATIONS_PAGE_SIZE,
    )
    last_page = max(1, -(-total // NOTIFICATIONS_PAGE_SIZE))
    return render_template("console/staff/notifications.html", page=page,
                           page_number=page_number, last_page=last_page)


@bp.post("/notifications/<int:notification_id>/read")
@staff_page
def notification_read(notification_id):
    bookings_service.mark_notification_read(get_db(), notification_id, actor=current_user)
    return redirect(url_for("console.notifications"))


@bp.post("/notifications/read-all")
@staff_page
def notifications_read_all():
    result = bookings_service.mark_all_notifications_read(get_db(), actor=current_user)
    flash(f"{result['marked']} notification(s) marked read.", "ok")
    return redirect(url_for("console.notifications"))


# --- occupancy chart --------------------------------------------------------------

@bp.get("/occupancy")
@staff_page
def occupancy():
    history = resources_service.occupancy_history(
        get_db(), _hospital_id(), current_user, now=utcnow(), days=OCCUPANCY_DAYS
    )
    charts = {resource_type: chart.occupancy_chart(history["days"], points)
              for resource_type, points in history["series"].items()}
    return render_template("console/staff/occupancy.html", charts=charts, days=OCCUPANCY_DAYS)
