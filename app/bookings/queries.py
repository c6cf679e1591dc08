"""SQL for bookings, their status history and notifications.

Functions take ``conn``, return dicts, never commit. Every status change sets
``status_changed_by`` and ``status_reason`` in the same UPDATE, because the
history and notification triggers (migration 0001) read them from the new row.

Personal fields are sealed here on the way in and opened on the way out
(app.crypto.fields), bound to the booking's reference: every function that
returns bookings rows returns them opened; SQL only ever filters and sorts on
plain ids, statuses, money and times.
"""
import json

from app.crypto import fields
from app.db import json_list, queue_lock, where_clause

# A booking with its payment state, derived from its payment (never stored twice):
# "written_off" once staff wrote the due of a completed, unpaid booking off
# (payment_write_offs, app/payments/write_offs.py); else the paid payment if there
# is one (at most one is not failed: idx_transactions_one_live_per_booking), else
# "unpaid" while an approved or completed booking owes its amount, else nothing is
# owed ("not_required": not approved, declined, cancelled before paying, or free).
BOOKING_SELECT = """
    SELECT b.*, h.name AS hospital_name,
           CASE WHEN w.id IS NOT NULL THEN 'written_off'
                WHEN p.status = 'completed' THEN 'paid'
                WHEN p.status IS NOT NULL THEN p.status
                WHEN b.status IN ('approved', 'completed') AND b.amount_minor > 0 THEN 'unpaid'
                ELSE 'not_required' END AS payment_status,
           CASE WHEN p.status IS NULL AND w.id IS NULL AND b.status IN ('approved', 'completed')
                THEN coalesce(b.amount_minor, 0) ELSE 0 END AS amount_due_minor,
           p.completed_at AS paid_at,
           w.created_at AS written_off_at
    FROM bookings AS b JOIN hospitals AS h ON h.id = b.hospital_id
    LEFT JOIN transactions AS p
           ON p.booking_id = b.id AND p.kind = 'booking_payment'
          AND p.status <> 'failed'
          AND p.status IN ('completed', 'partially_refunded', 'refunded')
    LEFT JOIN payment_write_offs AS w ON w.booking_id = b.id
"""
# ``p.status <> 'failed'`` follows from the IN list, but SQLite uses a partial index
# only when the query states its WHERE terms word for word: with it, the payment is
# found through idx_transactions_one_live_per_booking (booking_id); without it every
# booking read scanned the whole transactions table (0.3 s a read at 1M bookings,
# three reads an approval: RESULTS.md §0f).

# Optional filters of the booking lists: each is a fixed fragment with a named
# parameter of the same key, so no input ever becomes SQL text.
BOOKING_FILTERS = {
    "user_id": "b.user_id = :user_id",
    "hospital_id": "b.hospital_id = :hospital_id",
    "status": "b.status = :status",
    "urgency": "b.urgency = :urgency",
    "resource_type": "b.resource_type = :resource_type",
    "booking_reference": "b.booking_reference = :booking_reference",
    "created_from": "b.created_at >= :created_from",
    "created_before": "b.created_at < :created_before",
}


# Patient-name search through the blind index: the bookings that have an HMAC of
# every query token (under one key: a booking's tokens are all under one key).
_NAME_FILTER = """
    b.id IN (SELECT t.booking_id FROM booking_name_tokens AS t
             WHERE t.token_hmac IN {hmacs}
             GROUP BY t.booking_id HAVING count(*) = :name_token_count)
"""


def _where(conn, filters):
    fragments = BOOKING_FILTERS
    if "name_hmacs_json" in filters:
        fragments = {**BOOKING_FILTERS, "name_hmacs_json": _NAME_FILTER.format(
            hmacs=json_list(conn, ":name_hmacs_json")),
            # bound by the fragment above; nothing of its own to add
            "name_token_count": "TRUE"}
    return where_clause(fragments, filters)


def _opened(row):
    return fields.open_row("bookings", row)


def _all_opened(rows):
    return [fields.open_row("bookings", row) for row in rows]


# --- creation -----------------------------------------------------------------

def nth_latest_booking_since(conn, user_id, since, n):
    """created_at of the user's n-th most recent booking after ``since`` (None if fewer)."""
    row = conn.execute(
        """
        SELECT created_at FROM bookings
        WHERE user_id = ? AND created_at > ?
        ORDER BY created_at DESC LIMIT 1 OFFSET ?
        """,
        (user_id, since, n - 1),
    ).fetchone()
    return row["created_at"] if row else None


def get_open_booking_for_day(conn, *, user_id, hospital_id, resource_type, scheduled_day):
    """The pending/approved booking that idx_bookings_one_open_per_day would collide with."""
    return conn.execute(
        """
        SELECT id, booking_reference, status FROM bookings
        WHERE user_id = ? AND hospital_id = ? AND resource_type = ? AND scheduled_day = ?
          AND status IN ('pending', 'approved')
        """,
        (user_id, hospital_id, resource_type, scheduled_day),
    ).fetchone()


# queue_lock class of "the booking reference counter of one year" ("RCRF").
REFERENCE_LOCK_CLASS = 0x52435246


def reference_counter_lock(conn, year):
    """Around the whole transaction that takes a number from ``year``'s counter."""
    return queue_lock(conn, REFERENCE_LOCK_CLASS, year)


def next_reference_number(conn, year):
    """Take the next number of ``year``'s sequence (numbers are never handed out twice)."""
    return conn.execute(
        """
        INSERT INTO booking_reference_counters (year, last_value) VALUES (?, 1)
        ON CONFLICT (year) DO UPDATE SET last_value = booking_reference_counters.last_value + 1
        RETURNING last_value
        """,
        (year,),
    ).fetchone()["last_value"]


def insert_booking(conn, values):
    """``values``: the columns below, in plaintext; the triggers write the first history
    row and notifications. Seals the personal fields and indexes the patient's name.

    Returns the new row, opened (no trigger changes it after the insert)."""
    row = conn.execute(
        """
        INSERT INTO bookings (
            booking_reference, user_id, hospital_id, resource_type, patient_name, patient_age,
            patient_gender, medical_condition, urgency, emergency_contact_name,
            emergency_contact_phone, emergency_contact_relationship, scheduled_date,
            scheduled_end, scheduled_day, estimated_duration_hours, notes, personal, status,
            currency, status_changed_by, status_reason, created_at, updated_at)
        VALUES (
            :booking_reference, :user_id, :hospital_id, :resource_type, :patient_name, :patient_age,
            :patient_gender, :medical_condition, :urgency, :emergency_contact_name,
            :emergency_contact_phone, :emergency_contact_relationship, :scheduled_date,
            :scheduled_end, :scheduled_day, :estimated_duration_hours, :notes, :personal, 'pending',
            :currency, :status_changed_by, NULL, :now, :now)
        RETURNING *
        """,
        fields.seal_row("bookings", values, values["booking_reference"]),
    ).fetchone()
    insert_name_tokens(conn, row["id"], values["patient_name"])
    # The plaintext we were given, rather than opening what we just sealed.
    return {**{key: value for key, value in row.items() if key != "personal"},
            **{key: values.get(key) for key in fields.FIELDS["bookings"]},
            "authority_notes": None}


def insert_name_tokens(conn, booking_id, patient_name, key_id=None):
    conn.executemany(
        "INSERT INTO booking_name_tokens (booking_id, key_id, token_hmac) VALUES (?, ?, ?)",
        [(booking_id, key, digest) for key, digest in fields.index_entries(patient_name, key_id)],
    )


def delete_name_tokens(conn, booking_id):
    conn.execute("DELETE FROM booking_name_tokens WHERE booking_id = ?", (booking_id,))


def name_search_filter(text):
    """The filter values that find bookings whose patient name has every token of ``text``."""
    count, hmacs = fields.search_hmacs(text)
    return {"name_hmacs_json": json.dumps(hmacs), "name_token_count": count}


# --- reads --------------------------------------------------------------------

def get_booking(conn, booking_id):
    return _opened(conn.execute(f"{BOOKING_SELECT} WHERE b.id = ?", (booking_id,)).fetchone())


def get_booking_resource(conn, booking_id):
    """(hospital_id, resource_type) of a booking the caller may see, or None: where it
    holds its unit, without the rest of the booking (no joins, nothing to open)."""
    row = conn.execute("SELECT hospital_id, resource_type FROM bookings WHERE id = ?",
                       (booking_id,)).fetchone()
    return None if row is None else (row["hospital_id"], row["resource_type"])


def get_booking_by_reference(conn, reference):
    return _opened(conn.execute(
        f"{BOOKING_SELECT} WHERE b.booking_reference = ?", (reference,)
    ).fetchone())


def count_bookings(conn, filters):
    return conn.execute(
        f"SELECT count(*) AS n FROM bookings AS b {_where(conn, filters)}", filters
    ).fetchone()["n"]


def list_bookings(conn, filters, *, limit, offset):
    """Newest first."""
    return _all_opened(conn.execute(
        f"""
        {BOOKING_SELECT} {_where(conn, filters)}
        ORDER BY b.created_at DESC, b.id DESC
        LIMIT :limit OFFSET :offset
        """,
        {**filters, "limit": limit, "offset": offset},
    ).fetchall())


def list_pending_queue(conn, hospital_id, *, limit, offset):
    """Most urgent first, then oldest first (idx_bookings_queue)."""
    return _all_opened(conn.execute(
        f"""
        {BOOKING_SELECT}
        WHERE b.hospital_id = ? AND b.status = 'pending'
        ORDER BY b.urgency_rank, b.created_at, b.id
        LIMIT ? OFFSET ?
        """,
        (hospital_id, limit, offset),
    ).fetchall())


def list_upcoming(conn, hospital_id, *, from_day, limit):
    """Open (pending or approved) bookings scheduled on ``from_day`` or later, soonest first."""
    return _all_opened(conn.execute(
        f"""
        {BOOKING_SELECT}
        WHERE b.hospital_id = :hospital_id AND b.status IN ('pending', 'approved')
          AND b.scheduled_day >= :from_day
        ORDER BY b.scheduled_date, b.id
        LIMIT :limit
        """,
        {"hospital_id": hospital_id, "from_day": from_day, "limit": limit},
    ).fetchall())


def count_pending_by_urgency(conn, hospital_id):
    rows = conn.execute(
        """
        SELECT urgency, count(*) AS n FROM bookings
        WHERE hospital_id = ? AND status = 'pending'
        GROUP BY urgency
        """,
        (hospital_id,),
    ).fetchall()
    return {row["urgency"]: row["n"] for row in rows}


def statistics_by_status(conn, filters):
    return conn.execute(
        f"""
        SELECT b.status, count(*) AS count, coalesce(sum(b.amount_minor), 0) AS amount_minor
        FROM bookings AS b {_where(conn, filters)}
        GROUP BY b.status
        """,
        filters,
    ).fetchall()


def list_history(conn, booking_id):
    return conn.execute(
        """
        SELECT h.id, h.booking_id, h.old_status, h.new_status, h.changed_by,
               u.name AS changed_by_name, u.role AS changed_by_role, h.reason, h.notes,
               h.created_at
        FROM booking_status_history AS h LEFT JOIN users AS u ON u.id = h.changed_by
        WHERE h.booking_id = ?
        ORDER BY h.id
        """,
        (booking_id,),
    ).fetchall()


# --- transitions --------------------------------------------------------------

def approve_booking(conn, booking_id, *, reference, actor_id, reason, notes, amount_minor,
                    currency, now):
    """pending -> approved with one allocated unit: the updated row (opened), or None if
    the booking was no longer pending. ``notes``: the hospital's notes to the patient,
    sealed for the booking of ``reference``."""
    return _opened(conn.execute(
        """
        UPDATE bookings
        SET status = 'approved', allocated_units = 1, amount_minor = :amount_minor,
            currency = :currency, approved_by = :actor_id, approved_at = :now,
            status_changed_by = :actor_id, status_reason = :reason,
            authority_notes = :notes, updated_at = :now
        WHERE id = :id AND status = 'pending'
        RETURNING *
        """,
        {"id": booking_id, "actor_id": actor_id, "reason": reason,
         "notes": fields.seal("bookings", "authority_notes", reference, notes),
         "amount_minor": amount_minor, "currency": currency, "now": now},
    ).fetchone())


def change_window(conn, booking_id, *, duration_hours, scheduled_end, actor_id, now):
    """Set an approved booking's length and end: the updated row, or None if it is
    no longer approved."""
    return _opened(conn.execute(
        """
        UPDATE bookings
        SET estimated_duration_hours = :hours, scheduled_end = :scheduled_end,
            updated_at = :now
        WHERE id = :id AND status = 'approved'
        RETURNING *
        """,
        {"id": booking_id, "hours": duration_hours, "scheduled_end": scheduled_end,
         "now": now},
    ).fetchone())


def unreported_overstays(conn, now):
    """Approved bookings whose window ended by ``now`` without completion and that the
    overstay job has not reported yet, soonest end first."""
    return _all_opened(conn.execute(
        f"""
        {BOOKING_SELECT}
        WHERE b.status = 'approved' AND b.scheduled_end <= :now
          AND b.overstay_notified_at IS NULL
        ORDER BY b.scheduled_end, b.id
        """,
        {"now": now},
    ).fetchall())


def mark_overstay_notified(conn, booking_id, now):
    conn.execute(
        "UPDATE bookings SET overstay_notified_at = ? WHERE id = ? AND overstay_notified_at IS NULL",
        (now, booking_id),
    )


def hospital_authority_ids(conn, hospital_id):
    return [row["id"] for row in conn.execute(
        "SELECT id FROM users WHERE role = 'hospital-authority' AND hospital_id = ? ORDER BY id",
        (hospital_id,),
    ).fetchall()]


def insert_booking_notifications(conn, notifications):
    """Rows of {user_id, booking_id, type, title, message, created_at}."""
    conn.executemany(
        """
        INSERT INTO booking_notifications (user_id, booking_id, type, title, message, created_at)
        VALUES (:user_id, :booking_id, :type, :title, :message, :created_at)
        """,
        notifications,
    )


# The timestamp column each final status stamps (a constant, never input).
_FINAL_STAMP = {"declined": "declined_at", "completed": "completed_at", "cancelled": "cancelled_at"}


def finish_booking(conn, booking_id, *, new_status, from_statuses, actor_id, reason, now,
                   notes=None, reference=None):
    """Move to a final status from one of ``from_statuses``; units allocated are
    given up here (the caller releases them). ``notes`` (the hospital's, on a decline;
    sealed for the booking of ``reference``) replace the booking's; None keeps them.
    True if the guard held."""
    notes = fields.seal("bookings", "authority_notes", reference, notes)
    stamp = _FINAL_STAMP[new_status]
    placeholders = ", ".join("?" for _ in from_statuses)
    cursor = conn.execute(
        f"""
        UPDATE bookings
        SET status = ?, allocated_units = 0, {stamp} = ?,
            status_changed_by = ?, status_reason = ?,
            authority_notes = coalesce(?, authority_notes), updated_at = ?
        WHERE id = ? AND status IN ({placeholders})
        """,
        (new_status, now, actor_id, reason, notes, now, booking_id, *from_statuses),
    )
    return cursor.rowcount == 1


# --- notifications ------------------------------------------------------------

NOTIFICATION_COLUMNS = """
    id, user_id, booking_id, blood_request_id, type, title, message, is_read, created_at
"""


def insert_blood_request_notifications(conn, notifications):
    """Rows of {user_id, blood_request_id, type, title, message, created_at} (the blood
    domain's notices share the table, without a booking)."""
    conn.executemany(
        """
        INSERT INTO booking_notifications (user_id, blood_request_id, type, title, message,
                                           created_at)
        VALUES (:user_id, :blood_request_id, :type, :title, :message, :created_at)
        """,
        notifications,
    )


def count_notifications(conn, user_id, is_read):
    return conn.execute(
        """
        SELECT count(*) AS n FROM booking_notifications
        WHERE user_id = :user_id AND (:is_read IS NULL OR is_read = :is_read)
        """,
        {"user_id": user_id, "is_read": is_read},
    ).fetchone()["n"]


def list_notifications(conn, user_id, is_read, *, limit, offset):
    """Newest first."""
    return conn.execute(
        f"""
        SELECT {NOTIFICATION_COLUMNS} FROM booking_notifications
        WHERE user_id = :user_id AND (:is_read IS NULL OR is_read = :is_read)
        ORDER BY id DESC LIMIT :limit OFFSET :offset
        """,
        {"user_id": user_id, "is_read": is_read, "limit": limit, "offset": offset},
    ).fetchall()


def mark_notification_read(conn, notification_id, user_id):
    """The notification, now read; None if it is not the user's."""
    return conn.execute(
        f"""
        UPDATE booking_notifications SET is_read = TRUE
        WHERE id = ? AND user_id = ?
        RETURNING {NOTIFICATION_COLUMNS}
        """,
        (notification_id, user_id),
    ).fetchone()


def mark_all_notifications_read(conn, user_id):
    """How many were unread."""
    return conn.execute(
        "UPDATE booking_notifications SET is_read = TRUE WHERE user_id = ? AND is_read = FALSE",
        (user_id,),
    ).rowcount


def count_per_status(conn):
    """(status, n) rows, by status: how many bookings are in each state."""
    return conn.execute(
        "SELECT status, count(*) AS n FROM bookings GROUP BY status ORDER BY status"
    ).fetchall()


# --- key rotation (app.crypto.rotation; the sealed columns: app.crypto.sealed_rows) --

def name_tokens_per_key(conn):
    return {row["key_id"]: row["n"] for row in conn.execute(
        "SELECT key_id, count(DISTINCT booking_id) AS n FROM booking_name_tokens "
        "GROUP BY key_id ORDER BY key_id"
    ).fetchall()}


# --- closing an account (issue #18 item 6) --------------------------------------

ERASED_TEXT = "[erased]"


def count_open_bookings(conn, user_id):
    """The user's pending or approved bookings: an account with one cannot be closed."""
    return conn.execute(
        "SELECT count(*) AS n FROM bookings WHERE user_id = ? AND status IN ('pending', 'approved')",
        (user_id,),
    ).fetchone()["n"]


def erase_personal_fields(conn, user_id):
    """Overwrite the personal and clinical fields of every booking of ``user_id`` (the
    account is being closed); ids, statuses, times, money and the hospital stay for the
    books. The one place that knows which
    booking columns are personal (the same list issue #18 item 1 encrypts); their
    blind-index tokens go too. The sealed ``personal`` object goes, and placeholders
    take its fields' own columns, in plaintext: they hold nothing personal
    (app.crypto.fields reads a value that is not sealed as it is)."""
    conn.execute("DELETE FROM booking_name_tokens "
                 "WHERE booking_id IN (SELECT id FROM bookings WHERE user_id = ?)", (user_id,))
    return conn.execute(
        """
        UPDATE bookings
        SET personal = NULL,
            patient_name = :erased, patient_age = '0', patient_gender = 'other',
            medical_condition = :erased, emergency_contact_name = :erased,
            emergency_contact_phone = :erased, emergency_contact_relationship = :erased,
            notes = NULL, authority_notes = NULL
        WHERE user_id = :user_id
        """,
        {"erased": ERASED_TEXT, "user_id": user_id},
    ).rowcount
