"""/api/bookings: request, triage queue, transitions, history, lists, notifications.

Literal paths (/search, /notifications, /reference/..., /my-bookings,
/hospital/...) can never be taken for a booking id: ids only match the int
converter (bounded to SQLite's integer range, so absurd ids are a plain 404).
"""
from flask import current_app, request
from flask.views import MethodView
from flask_login import current_user

from app.auth.guards import login_required, roles_required
from app.bookings import schemas, service
from app.db import get_db
from app.extensions.api import Blueprint, page_bounds
from app.payments import schemas as payment_schemas
from app.payments import write_offs
from app.payments.idempotency import current_claim, idempotent
from app.timeutil import utcnow

blp = Blueprint(
    "bookings", __name__, url_prefix="/api/bookings",
    description="Booking requests, the triage queue, transitions, history and notifications",
)

BOOKING_ID = "<int:booking_id>"
HOSPITAL_ID = "<int:hospital_id>"
NOTIFICATION_ID = "<int:notification_id>"
STAFF = ("hospital-authority", "admin")


def _origin():
    """Where the request came from, for the resource audit log."""
    return {"ip_address": request.remote_addr, "user_agent": request.user_agent.string}


@blp.route("")
class Bookings(MethodView):
    @blp.arguments(schemas.BookingCreateSchema)
    @blp.response(201, schemas.BookingSchema)
    @blp.alt_response(404, description="Unknown hospital, or one not approved (not taking bookings)")
    @blp.alt_response(409, description="Nothing available, or an open booking for that hospital, type and day")
    @blp.alt_response(403, description="Not a patient, or (REQUIRE_VERIFIED_EMAIL) the email "
                                       "address is not verified yet")
    @blp.alt_response(429, description="Past BOOKING_RATE_LIMIT; see Retry-After")
    @roles_required("user")
    def post(self, data):
        """Request a booking (pending until the hospital decides)

        Only at an approved hospital (any other is 404: it is not public). The answer is
        `pending` with a `bookingReference` `RC-YYYY-NNNNNN` (the year in the platform
        time zone; numbers are never reused). `scheduledDate` must carry a UTC offset,
        be in the future and at most 366 days ahead. A user holds at most one pending or
        approved booking per hospital, resource type and day (the day of `scheduledDate`
        in the hospital's time zone). Past BOOKING_RATE_LIMIT (counted over the user's
        bookings in the database, so across all workers) the answer is 429 with
        `Retry-After`.
        """
        return service.create_booking(
            get_db(), actor=current_user, data=data, now=utcnow(), config=current_app.config
        )


@blp.route("/my-bookings")
class MyBookings(MethodView):
    @blp.response(200, schemas.BookingSchema(many=True))
    @blp.paginate()
    @roles_required("user")
    def get(self, pagination_parameters):
        """Your own bookings, newest first"""
        limit, offset = page_bounds(pagination_parameters)
        items, pagination_parameters.item_count = service.my_bookings(
            get_db(), actor=current_user, limit=limit, offset=offset
        )
        return items


@blp.route("/search")
class Search(MethodView):
    @blp.arguments(schemas.BookingSearchQueryArgsSchema, location="query")
    @blp.response(200, schemas.BookingSchema(many=True))
    @blp.paginate()
    @login_required
    def get(self, criteria, pagination_parameters):
        """Search bookings: patients see their own, authorities their hospital's, admins all

        Dates are calendar days of creation in the platform time zone, inclusive.
        """
        limit, offset = page_bounds(pagination_parameters)
        items, pagination_parameters.item_count = service.search_bookings(
            get_db(), actor=current_user, criteria=criteria, limit=limit, offset=offset,
            config=current_app.config,
        )
        return items


@blp.route("/reference/<string(maxlength=64):reference>")
class ByReference(MethodView):
    @blp.response(200, schemas.BookingSchema)
    @blp.alt_response(404, description="No such booking, or not yours to see")
    @login_required
    def get(self, reference):
        """One booking by its reference (RC-YYYY-NNNNNN)"""
        return service.get_booking_by_reference(get_db(), reference, actor=current_user)


@blp.route(f"/{BOOKING_ID}")
class Booking(MethodView):
    @blp.response(200, schemas.BookingSchema)
    @blp.alt_response(404, description="No such booking, or not yours to see")
    @login_required
    def get(self, booking_id):
        """One booking (its patient, its hospital's authority, admin)"""
        return service.get_booking(get_db(), booking_id, actor=current_user)

    @blp.arguments(schemas.OptionalReasonSchema, required=False)
    @blp.response(200, schemas.BookingSchema)
    @blp.alt_response(404, description="No such booking, or not yours to see")
    @blp.alt_response(409, description="Already final, or an authority cancelling a pending request")
    @login_required
    def delete(self, data, booking_id):
        """Cancel a booking; units are released and a paid booking is refunded by policy

        The patient may cancel a pending or approved booking, the hospital's
        authority an approved one, an admin either. The body `{reason}` is optional.
        """
        return service.cancel_booking(
            get_db(), booking_id, actor=current_user, reason=data["reason"], now=utcnow(),
            config=current_app.config, **_origin(),
        )


@blp.route(f"/{BOOKING_ID}/history")
class History(MethodView):
    @blp.response(200, schemas.HistoryEntrySchema(many=True))
    @blp.alt_response(404, description="No such booking, or not yours to see")
    @login_required
    def get(self, booking_id):
        """Status history: old -> new, who, when, why (at most three rows, not paginated)"""
        return service.booking_history(get_db(), booking_id, actor=current_user)


@blp.route(f"/{BOOKING_ID}/approve")
class Approve(MethodView):
    @blp.arguments(schemas.ApproveSchema, required=False)
    @blp.response(200, schemas.BookingSchema)
    @blp.alt_response(404, description="No such booking at your hospital")
    @blp.alt_response(409, description="Not pending, its window does not fit (the message "
                                       "names the first full instant) or has ended, or no "
                                       "active price")
    @roles_required(*STAFF)
    def put(self, data, booking_id):
        """Approve a pending booking: it holds one unit for its window; creates the payment due

        In one transaction: the booking's whole window [scheduledDate, scheduledEnd) is
        checked against the approved bookings overlapping it and the units the hospital
        marked unavailable (README "Scheduled capacity"), the booking
        becomes approved, the resource audit log gets an `allocate` row and the payment
        due is created (amount by the pricing rule of `POST /api/pricing/calculate`,
        from the active price, duration and urgency; a zero price creates none). A
        hospital no longer approved is 409 too; on any 409 nothing is written. The body
        `{reason, notes}` is optional: `notes` are the hospital's words to the patient
        ("bring your reports, admission at 9"), shown as the booking's `authorityNotes`,
        in the history row and in the patient's notification.
        """
        return service.approve_booking(
            get_db(), booking_id, actor=current_user, reason=data["reason"],
            notes=data["notes"], now=utcnow(), **_origin(),
        )


@blp.route(f"/{BOOKING_ID}/decline")
class Decline(MethodView):
    @blp.arguments(schemas.DeclineSchema)
    @blp.response(200, schemas.BookingSchema)
    @blp.alt_response(404, description="No such booking at your hospital")
    @blp.alt_response(409, description="Not pending")
    @roles_required(*STAFF)
    def put(self, data, booking_id):
        """Decline a pending booking (reason required, notes optional)

        The patient is notified; the status history records who and why. `notes` (the
        hospital's words to the patient) are shown as on approval.
        """
        return service.decline_booking(
            get_db(), booking_id, actor=current_user, reason=data["reason"],
            notes=data["notes"], now=utcnow(),
        )


@blp.route(f"/{BOOKING_ID}/complete")
class Complete(MethodView):
    @blp.arguments(schemas.OptionalReasonSchema, required=False)
    @blp.response(200, schemas.BookingSchema)
    @blp.alt_response(404, description="No such booking at your hospital")
    @blp.alt_response(409, description="Not approved")
    @roles_required(*STAFF)
    def put(self, data, booking_id):
        """Complete an approved booking; releases exactly what approval allocated

        The body `{reason}` is optional. The release is in the resource audit log
        (`release`).
        """
        return service.complete_booking(
            get_db(), booking_id, actor=current_user, reason=data["reason"], now=utcnow(),
            **_origin(),
        )


@blp.route(f"/{BOOKING_ID}/extend")
class Extend(MethodView):
    @blp.arguments(schemas.ExtendSchema)
    @blp.response(200, schemas.BookingSchema)
    @blp.alt_response(404, description="No such booking at your hospital")
    @blp.alt_response(409, description="Not approved, the longer window does not fit, or "
                                       "the new end would be in the past")
    @roles_required(*STAFF)
    def put(self, data, booking_id):
        """Extend or shorten an approved booking's window (`estimatedDuration`, hours)

        A longer window is checked against capacity as an approval is (409 naming the
        first full instant). The amount fixed at approval does not change. The resource
        audit log gets an `allocate` row naming the new window.
        """
        return service.extend_booking(
            get_db(), booking_id, actor=current_user, hours=data["estimated_duration_hours"],
            reason=data["reason"], now=utcnow(), **_origin(),
        )


@blp.route(f"/{BOOKING_ID}/write-off")
class WriteOff(MethodView):
    @blp.arguments(payment_schemas.WriteOffRequestSchema)
    @idempotent
    @blp.response(201, payment_schemas.WriteOffResultSchema,
                  description="Written off: the booking's paymentStatus is `written_off`")
    @blp.alt_response(400, description="Missing or malformed Idempotency-Key")
    @blp.alt_response(404, description="No such booking at your hospital")
    @blp.alt_response(409, description="Not completed, nothing owed (paid, refunded, free), "
                                       "already written off, a gateway payment in progress, "
                                       "or the Idempotency-Key was used with another body")
    @roles_required(*STAFF)
    def post(self, data, booking_id):
        """Write off the unpaid due of a completed booking: its hospital's staff or an admin

        A booking completed while its payment was due can never be paid any more;
        reconciliation reports it (`completed_unpaid`). Writing the due off closes
        the books: the booking's `paymentStatus` becomes `written_off` (`amountDue`
        0), its open payment due is failed, the reconciliation finding is resolved,
        and the admin audit log records `payment.write_off` (who, amount, reason,
        IP). **No money moves**: no wallet, ledger, balance or earnings row changes.
        Patients cannot write off (403). Same Idempotency-Key and body: the first
        answer again, one write-off.
        """
        row, booking = write_offs.write_off(
            get_db(), actor=current_user, booking_id=booking_id, reason=data["reason"],
            now=utcnow(), claim=current_claim(), ip_address=request.remote_addr,
        )
        return {**row, "booking": booking}


@blp.route(f"/hospital/{HOSPITAL_ID}/pending")
class PendingQueue(MethodView):
    @blp.response(200, schemas.PendingQueueSchema)
    @blp.alt_response(404, description="No such hospital, or not yours")
    @blp.paginate()
    @roles_required(*STAFF)
    def get(self, hospital_id, pagination_parameters):
        """The triage queue: critical -> low, then oldest first, with a summary

        `summary` ({totalPending, critical, high, medium, low}) counts the whole queue;
        `items` (each with its `waitingTime`) are paginated.
        """
        limit, offset = page_bounds(pagination_parameters)
        page, pagination_parameters.item_count = service.pending_queue(
            get_db(), hospital_id, actor=current_user, now=utcnow(), limit=limit, offset=offset
        )
        return page


@blp.route(f"/hospital/{HOSPITAL_ID}/history")
class HospitalHistory(MethodView):
    @blp.arguments(schemas.HospitalHistoryQueryArgsSchema, location="query")
    @blp.response(200, schemas.BookingSchema(many=True))
    @blp.alt_response(404, description="No such hospital, or not yours")
    @blp.paginate()
    @roles_required(*STAFF)
    def get(self, args, hospital_id, pagination_parameters):
        """A hospital's bookings, newest first (dates: days of creation in its time zone)"""
        limit, offset = page_bounds(pagination_parameters)
        items, pagination_parameters.item_count = service.hospital_history(
            get_db(), hospital_id, actor=current_user, status=args.get("status"),
            start_date=args.get("start_date"), end_date=args.get("end_date"),
            limit=limit, offset=offset,
        )
        return items


@blp.route(f"/hospital/{HOSPITAL_ID}/statistics")
class Statistics(MethodView):
    @blp.arguments(schemas.DateRangeQueryArgsSchema, location="query")
    @blp.response(200, schemas.StatisticsSchema)
    @blp.alt_response(404, description="No such hospital, or not yours")
    @roles_required(*STAFF)
    def get(self, args, hospital_id):
        """Counts and amounts by status of the bookings created in a date range

        `startDate`/`endDate` are calendar days of creation in the hospital's time zone,
        inclusive. Amounts are as fixed at approval.
        """
        return service.hospital_statistics(
            get_db(), hospital_id, actor=current_user, start_date=args.get("start_date"),
            end_date=args.get("end_date"), config=current_app.config,
        )


@blp.route("/notifications")
class Notifications(MethodView):
    @blp.arguments(schemas.NotificationQueryArgsSchema, location="query")
    @blp.response(200, schemas.NotificationPageSchema)
    @blp.paginate()
    @login_required
    def get(self, args, pagination_parameters):
        """Your notifications, newest first, with the total unread count

        `unreadCount` counts every unread notification, whatever the `isRead` filter.
        """
        limit, offset = page_bounds(pagination_parameters)
        page, pagination_parameters.item_count = service.list_notifications(
            get_db(), actor=current_user, is_read=args.get("is_read"), limit=limit, offset=offset
        )
        return page


@blp.route(f"/notifications/{NOTIFICATION_ID}/read")
class NotificationRead(MethodView):
    @blp.response(200, schemas.NotificationSchema)
    @blp.alt_response(404, description="No such notification, or not yours")
    @login_required
    def put(self, notification_id):
        """Mark one of your notifications read"""
        return service.mark_notification_read(get_db(), notification_id, actor=current_user)


@blp.route("/notifications/read-all")
class NotificationsReadAll(MethodView):
    @blp.response(200, schemas.MarkedReadSchema)
    @login_required
    def put(self):
        """Mark all your notifications read

        Answers `{marked, unreadCount: 0}`.
        """
        return service.mark_all_notifications_read(get_db(), actor=current_user)
