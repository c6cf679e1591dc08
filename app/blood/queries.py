"""SQL for blood_requests and blood_donor_matches (notifications: app.bookings.queries).

Functions take ``conn``, return dicts, never commit. Optional filters are
written as ``(:x IS NULL OR column = :x)`` so every statement is a constant.

Personal fields (a request's patient name, contact phone, condition and notes; a
donor's phone) are sealed here on the way in, bound to the row's random
``record_key``, and opened on the way out (app.crypto.fields).
"""
import uuid

from app.crypto import fields
from app.db import json_list

# A request as the API shows it: with its hospital's name and how many donors volunteered.
REQUEST_SELECT = """
    SELECT r.id, r.record_key, r.requester_id, r.patient_name, r.blood_type, r.units_needed, r.urgency,
           r.hospital_id, h.name AS hospital_name, r.contact_phone, r.location,
           r.medical_condition, r.required_by, r.notes, r.status, r.created_at, r.updated_at,
           (SELECT count(*) FROM blood_donor_matches AS m
            WHERE m.blood_request_id = r.id) AS match_count
    FROM blood_requests AS r
    LEFT JOIN hospitals AS h ON h.id = r.hospital_id
"""

# Open for donors: active and not yet past its deadline (the expiry job may not have run yet).
_OPEN = "r.status = 'active' AND (r.required_by IS NULL OR r.required_by > :now)"

_ACTIVE_FILTERS = f"""
    WHERE {_OPEN}
      AND (:blood_type IS NULL OR r.blood_type = :blood_type)
      AND (:urgency IS NULL OR r.urgency = :urgency)
      AND (:hospital_id IS NULL OR r.hospital_id = :hospital_id)
      AND (:location IS NULL OR lower(r.location) LIKE '%' || lower(:location) || '%' ESCAPE '\\')
"""

def _compatible_filters(conn):
    return f"""
    WHERE {_OPEN}
      AND r.blood_type IN {json_list(conn, ":blood_types")}
      AND r.requester_id <> :donor_id
"""

_MOST_URGENT_FIRST = """
    ORDER BY r.urgency_rank, r.required_by IS NULL, r.required_by, r.created_at, r.id
"""


def like_pattern(text):
    """Escape LIKE's wildcards so user text matches literally (used with ESCAPE '\\')."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _opened(row):
    return fields.open_row("blood_requests", row)


def _all_opened(rows):
    return [fields.open_row("blood_requests", row) for row in rows]


def insert_request(conn, *, requester_id, patient_name, blood_type, units_needed, urgency,
                   hospital_id, contact_phone, location, medical_condition, required_by,
                   notes, now):
    # drawn before the INSERT: the associated data of every sealed field names it
    record_key = uuid.uuid4().hex
    personal = fields.seal_row("blood_requests", {
        "patient_name": patient_name, "contact_phone": contact_phone,
        "medical_condition": medical_condition, "notes": notes}, record_key)
    return conn.execute(
        """
        INSERT INTO blood_requests (requester_id, record_key, patient_name, blood_type,
            units_needed, urgency, hospital_id, contact_phone, location, medical_condition,
            required_by, notes, status, created_at, updated_at)
        VALUES (:requester_id, :record_key, :patient_name, :blood_type,
            :units_needed, :urgency, :hospital_id, :contact_phone, :location, :medical_condition,
            :required_by, :notes, 'active', :now, :now)
        RETURNING id
        """,
        {**personal, "requester_id": requester_id, "record_key": record_key,
         "blood_type": blood_type, "units_needed": units_needed, "urgency": urgency,
         "hospital_id": hospital_id, "location": location, "required_by": required_by,
         "now": now},
    ).fetchone()["id"]


def get_request(conn, request_id):
    return _opened(conn.execute(f"{REQUEST_SELECT} WHERE r.id = ?", (request_id,)).fetchone())


def _active_params(filters, now):
    location = filters.get("location")
    return {
        "now": now,
        "blood_type": filters.get("blood_type"),
        "urgency": filters.get("urgency"),
        "hospital_id": filters.get("hospital_id"),
        "location": like_pattern(location) if location else None,
    }


def count_active_requests(conn, filters, now):
    return conn.execute(
        f"SELECT count(*) AS n FROM blood_requests AS r {_ACTIVE_FILTERS}",
        _active_params(filters, now),
    ).fetchone()["n"]


def list_active_requests(conn, filters, now, *, limit, offset):
    return _all_opened(conn.execute(
        f"{REQUEST_SELECT} {_ACTIVE_FILTERS} {_MOST_URGENT_FIRST} LIMIT :limit OFFSET :offset",
        {**_active_params(filters, now), "limit": limit, "offset": offset},
    ).fetchall())


def count_compatible_requests(conn, *, blood_types_json, donor_id, now):
    return conn.execute(
        f"SELECT count(*) AS n FROM blood_requests AS r {_compatible_filters(conn)}",
        {"blood_types": blood_types_json, "donor_id": donor_id, "now": now},
    ).fetchone()["n"]


def list_compatible_requests(conn, *, blood_types_json, donor_id, now, limit, offset):
    return _all_opened(conn.execute(
        f"""{REQUEST_SELECT} {_compatible_filters(conn)} {_MOST_URGENT_FIRST}
        LIMIT :limit OFFSET :offset""",
        {"blood_types": blood_types_json, "donor_id": donor_id, "now": now,
         "limit": limit, "offset": offset},
    ).fetchall())


_OWN_FILTERS = """
    WHERE r.requester_id = :requester_id AND (:status IS NULL OR r.status = :status)
"""


def count_own_requests(conn, requester_id, status):
    return conn.execute(
        f"SELECT count(*) AS n FROM blood_requests AS r {_OWN_FILTERS}",
        {"requester_id": requester_id, "status": status},
    ).fetchone()["n"]


def list_own_requests(conn, requester_id, status, *, limit, offset):
    return _all_opened(conn.execute(
        f"""{REQUEST_SELECT} {_OWN_FILTERS}
        ORDER BY r.created_at DESC, r.id DESC LIMIT :limit OFFSET :offset""",
        {"requester_id": requester_id, "status": status, "limit": limit, "offset": offset},
    ).fetchall())


def close_request(conn, request_id, new_status, now):
    """active -> ``new_status`` in one guarded statement. True if it happened."""
    cursor = conn.execute(
        """
        UPDATE blood_requests SET status = :status, updated_at = :now
        WHERE id = :id AND status = 'active'
        """,
        {"status": new_status, "now": now, "id": request_id},
    )
    return cursor.rowcount == 1


def expire_overdue_requests(conn, now):
    """Every active request whose deadline has passed becomes expired; returns them."""
    return conn.execute(
        """
        UPDATE blood_requests SET status = 'expired', updated_at = :now
        WHERE status = 'active' AND required_by IS NOT NULL AND required_by <= :now
        RETURNING id, requester_id, blood_type
        """,
        {"now": now},
    ).fetchall()


MATCH_SELECT = """
    SELECT m.id, m.record_key, m.blood_request_id, m.donor_id, u.name AS donor_name,
           m.donor_blood_type, m.phone, m.created_at
    FROM blood_donor_matches AS m
    JOIN users AS u ON u.id = m.donor_id
"""


def _match_opened(row):
    return fields.open_row("blood_donor_matches", row)


def get_match(conn, match_id):
    return _match_opened(conn.execute(f"{MATCH_SELECT} WHERE m.id = ?", (match_id,)).fetchone())


def donor_has_volunteered(conn, request_id, donor_id):
    return conn.execute(
        "SELECT 1 FROM blood_donor_matches WHERE blood_request_id = ? AND donor_id = ?",
        (request_id, donor_id),
    ).fetchone() is not None


def insert_match(conn, *, request_id, donor_id, donor_blood_type, phone, now):
    """UNIQUE (blood_request_id, donor_id) refuses a second volunteering (-> 409)."""
    record_key = uuid.uuid4().hex  # drawn before the INSERT: the sealed phone's AAD names it
    return conn.execute(
        """
        INSERT INTO blood_donor_matches (blood_request_id, donor_id, donor_blood_type, phone,
                                         record_key, created_at)
        VALUES (?, ?, ?, ?, ?, ?)
        RETURNING id
        """,
        (request_id, donor_id, donor_blood_type,
         fields.seal("blood_donor_matches", "phone", record_key, phone), record_key, now),
    ).fetchone()["id"]


def count_matches(conn, request_id):
    return conn.execute(
        "SELECT count(*) AS n FROM blood_donor_matches WHERE blood_request_id = ?", (request_id,)
    ).fetchone()["n"]


def list_matches(conn, request_id, *, limit, offset):
    return [_match_opened(row) for row in conn.execute(
        f"{MATCH_SELECT} WHERE m.blood_request_id = ? ORDER BY m.id LIMIT ? OFFSET ?",
        (request_id, limit, offset),
    ).fetchall()]



# --- the caller's own data, closing an account (issue #18 item 6) --------------

ERASED_TEXT = "[erased]"


def list_donor_matches(conn, donor_id):
    """Every time ``donor_id`` volunteered, oldest first (GET /api/auth/my-data)."""
    return [_match_opened(row) for row in conn.execute(
        f"{MATCH_SELECT} WHERE m.donor_id = ? ORDER BY m.id", (donor_id,)
    ).fetchall()]


def erase_personal_fields(conn, user_id, now):
    """Closing an account: the user's active requests are cancelled (nobody can call an
    erased number), every request's patient name, phone, condition, place and notes
    are overwritten, and the phone the user gave when volunteering is removed.
    Returns the number of requests changed."""
    conn.execute(
        "UPDATE blood_requests SET status = 'cancelled', updated_at = ? "
        "WHERE requester_id = ? AND status = 'active'",
        (now, user_id),
    )
    changed = conn.execute(
        """
        UPDATE blood_requests
        SET patient_name = :erased, contact_phone = :erased, medical_condition = NULL,
            location = :erased, notes = NULL, updated_at = :now
        WHERE requester_id = :user_id
        """,
        {"erased": ERASED_TEXT, "now": now, "user_id": user_id},
    ).rowcount
    conn.execute("UPDATE blood_donor_matches SET phone = NULL WHERE donor_id = ?", (user_id,))
    return changed
