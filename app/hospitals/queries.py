"""SQL for hospitals and their approval workflow. Functions take ``conn``, return dicts, never commit."""
import json

import orjson

from app.db import pick
from app.hospitals import fts
from app.resources.queries import free_units_sql, with_hold_bounds
from app.timeutil import to_iso, utcnow

HOSPITAL_COLUMNS = """
    h.id, h.name, h.description, h.address, h.city, h.phone, h.email, h.website,
    h.specialties, h.timezone, h.status, h.created_by, h.approved_by, h.approved_at,
    h.rejection_reason, h.suspension_reason, h.created_at, h.updated_at,
    h.license_number, h.facilities, h.operating_hours, h.emergency_contact
"""

# Public discovery. The two sources differ only in whether a full-text match
# ranks and restricts the rows; the filters and the ordering tail are shared.
# Lower rank is better in both: FTS5's bm25() is negative, ts_rank is negated.
_SEARCH_SOURCE = {
    "sqlite": """
    (SELECT rowid AS id, bm25(hospitals_fts) AS rank
     FROM hospitals_fts WHERE hospitals_fts MATCH :match) AS m
    JOIN hospitals AS h ON h.id = m.id
""",
    "postgres": """
    (SELECT id, -ts_rank(search_vector, query) AS rank
     FROM hospitals, to_tsquery('simple', rapidcare_unaccent(:match)) AS query
     WHERE search_vector @@ query) AS m
    JOIN hospitals AS h ON h.id = m.id
""",
}
_BROWSE_SOURCE = "(SELECT 0.0 AS rank) AS m CROSS JOIN hospitals AS h"
# The public filter holds only the conditions a search gives, each a fixed fragment:
# a handful of distinct statements, so PostgreSQL plans each once (app/db/postgres.py)
# where "(:x IS NULL OR ...)" for every optional filter would be planned on every
# search. (Such a statement is a custom plan each time: folding the NULL tests away
# makes it look cheaper than its generic plan.)
_HAS_RESOURCE = """
    EXISTS (SELECT 1 FROM hospital_resources AS r WHERE r.hospital_id = h.id{conditions})
"""
# A facility filter matches one element of the JSON list, ignoring case.
_HAS_FACILITY = {
    "sqlite": """
    EXISTS (SELECT 1 FROM json_each(h.facilities) AS f WHERE lower(f.value) = lower(:facility))
""",
    "postgres": """
    EXISTS (SELECT 1 FROM jsonb_array_elements_text(h.facilities) AS f (value)
            WHERE lower(f.value) = lower(:facility))
""",
}


def _decode(row):
    if row is not None:
        row["specialties"] = _json_list(row["specialties"])
        row["facilities"] = _json_list(row["facilities"])
    return row


def _json_list(text):
    """``json.loads`` of the stored list, by orjson (a page of 20 search results: 10 µs
    less, RESULTS.md §0d); text orjson refuses (a lone surrogate escape, which a
    request body can no longer bring in) goes to the standard parser, as before."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def get_hospital(conn, hospital_id):
    return _decode(conn.execute(
        f"SELECT {HOSPITAL_COLUMNS} FROM hospitals AS h WHERE h.id = ?", (hospital_id,)
    ).fetchone())


def get_hospital_by_name(conn, name):
    return _decode(conn.execute(
        f"SELECT {HOSPITAL_COLUMNS} FROM hospitals AS h WHERE h.name = ?", (name,)
    ).fetchone())


def _public_filter(conn, *, resource_type, min_available, facility, window):
    """Approved hospitals, with the resource type, the free units (now, or for the
    whole ``window``: app.resources.queries.free_units_sql) and the facility asked for;
    a filter that is None is left out."""
    conditions = ["h.status = 'approved'"]
    if resource_type is not None or min_available is not None:
        of_resource = ""
        if resource_type is not None:
            of_resource += " AND r.resource_type = :resource_type"
        if min_available is not None:
            free = free_units_sql(conn, window=window is not None)
            of_resource += f" AND {free} >= :min_available"
        conditions.append(_HAS_RESOURCE.format(conditions=of_resource))
    if facility is not None:
        conditions.append(pick(conn, _HAS_FACILITY))
    return " AND ".join(conditions)


def _filter_values(*, resource_type, min_available, facility, now, window):
    """The parameters of _public_filter; ``window``: (start, end) ISO text, or None;
    ``now`` None: the clock's now (a caller without a clock of its own)."""
    start, end = window or (None, None)
    now = now if now is not None else to_iso(utcnow())
    return with_hold_bounds({"resource_type": resource_type, "min_available": min_available,
                             "facility": facility, "now": now, "start": start, "end": end})


def _source(conn, q):
    """(the rows searched, the match expression): all hospitals when ``q`` is None."""
    if q is None:
        return _BROWSE_SOURCE, None
    return pick(conn, _SEARCH_SOURCE), fts.EXPRESSIONS[conn.dialect](q)


def search_public(conn, *, q, resource_type, min_available, facility, limit, offset, now=None,
                  window=None):
    """Approved hospitals, best full-text match first (``q`` None: all, by name).
    ``q`` must hold a searchable word (app.hospitals.fts.search_words).
    ``min_available`` counts the units free at ``now`` (ISO text), or, with ``window``
    ((start, end) ISO text), free for the whole of it."""
    source, match = _source(conn, q)
    rows = conn.execute(
        f"""
        SELECT {HOSPITAL_COLUMNS} FROM {source}
        WHERE {_public_filter(conn, resource_type=resource_type, min_available=min_available,
                              facility=facility, window=window)}
        ORDER BY m.rank, h.name, h.id
        LIMIT :limit OFFSET :offset
        """,
        {"match": match, "limit": limit, "offset": offset,
         **_filter_values(resource_type=resource_type, min_available=min_available,
                          facility=facility, now=now, window=window)},
    ).fetchall()
    return [_decode(row) for row in rows]


def count_public(conn, *, q, resource_type, min_available, facility, now=None, window=None):
    source, match = _source(conn, q)
    return conn.execute(
        f"""
        SELECT count(*) AS n FROM {source}
        WHERE {_public_filter(conn, resource_type=resource_type, min_available=min_available,
                              facility=facility, window=window)}
        """,
        {"match": match,
         **_filter_values(resource_type=resource_type, min_available=min_available,
                          facility=facility, now=now, window=window)},
    ).fetchone()["n"]


def list_by_status(conn, *, status, limit, offset):
    """Every hospital (``status`` None) or those in one state, oldest first: a review queue."""
    rows = conn.execute(
        f"""
        SELECT {HOSPITAL_COLUMNS} FROM hospitals AS h
        WHERE :status IS NULL OR h.status = :status
        ORDER BY h.created_at, h.id
        LIMIT :limit OFFSET :offset
        """,
        {"status": status, "limit": limit, "offset": offset},
    ).fetchall()
    return [_decode(row) for row in rows]


def count_by_status(conn, *, status):
    return conn.execute(
        "SELECT count(*) AS n FROM hospitals WHERE :status IS NULL OR status = :status",
        {"status": status},
    ).fetchone()["n"]


def _encoded(fields):
    return {**fields, "specialties": json.dumps(fields["specialties"]),
            "facilities": json.dumps(fields["facilities"])}


def insert_hospital(conn, *, fields, created_by, now):
    values = {**_encoded(fields), "created_by": created_by, "now": now}
    return conn.execute(
        """
        INSERT INTO hospitals (name, description, address, city, phone, email, website,
                               specialties, timezone, license_number, facilities,
                               operating_hours, emergency_contact,
                               status, created_by, created_at, updated_at)
        VALUES (:name, :description, :address, :city, :phone, :email, :website,
                :specialties, :timezone, :license_number, :facilities,
                :operating_hours, :emergency_contact,
                'pending', :created_by, :now, :now)
        RETURNING id
        """,
        values,
    ).fetchone()["id"]


def get_hospital_by_license_number(conn, license_number):
    return _decode(conn.execute(
        f"SELECT {HOSPITAL_COLUMNS} FROM hospitals AS h WHERE h.license_number = ?",
        (license_number,),
    ).fetchone())


def update_details(conn, hospital_id, *, fields, resubmit, now):
    """Overwrite the editable details; with ``resubmit``, a rejected hospital goes back
    to review (pending)."""
    values = {**_encoded(fields), "id": hospital_id, "resubmit": resubmit, "now": now}
    conn.execute(
        """
        UPDATE hospitals
        SET name = :name, description = :description, address = :address, city = :city,
            phone = :phone, email = :email, website = :website, specialties = :specialties,
            timezone = :timezone, license_number = :license_number, facilities = :facilities,
            operating_hours = :operating_hours, emergency_contact = :emergency_contact,
            updated_at = :now,
            status = CASE WHEN :resubmit AND status = 'rejected' THEN 'pending' ELSE status END,
            rejection_reason = CASE WHEN :resubmit AND status = 'rejected' THEN NULL
                                    ELSE rejection_reason END
        WHERE id = :id
        """,
        values,
    )


def approve(conn, hospital_id, *, approved_by, now):
    """pending -> approved. True if it happened."""
    cursor = conn.execute(
        """
        UPDATE hospitals
        SET status = 'approved', approved_by = :approved_by, approved_at = :now,
            rejection_reason = NULL, updated_at = :now
        WHERE id = :id AND status = 'pending'
        """,
        {"approved_by": approved_by, "now": now, "id": hospital_id},
    )
    return cursor.rowcount == 1


def reject(conn, hospital_id, *, reason, now):
    """pending -> rejected. True if it happened."""
    cursor = conn.execute(
        """
        UPDATE hospitals SET status = 'rejected', rejection_reason = :reason, updated_at = :now
        WHERE id = :id AND status = 'pending'
        """,
        {"reason": reason, "now": now, "id": hospital_id},
    )
    return cursor.rowcount == 1


def suspend(conn, hospital_id, *, reason, now):
    """approved -> suspended. True if it happened."""
    cursor = conn.execute(
        """
        UPDATE hospitals SET status = 'suspended', suspension_reason = :reason, updated_at = :now
        WHERE id = :id AND status = 'approved'
        """,
        {"reason": reason, "now": now, "id": hospital_id},
    )
    return cursor.rowcount == 1


def reinstate(conn, hospital_id, *, now):
    """suspended -> approved (the suspension reason is cleared; the audit log keeps it).
    True if it happened."""
    cursor = conn.execute(
        """
        UPDATE hospitals SET status = 'approved', suspension_reason = NULL, updated_at = :now
        WHERE id = :id AND status = 'suspended'
        """,
        {"now": now, "id": hospital_id},
    )
    return cursor.rowcount == 1


def count_per_status(conn):
    """(status, n) rows: how many hospitals are in each state."""
    return conn.execute("SELECT status, count(*) AS n FROM hospitals GROUP BY status").fetchall()


def optimize_search_index_sqlite(conn):
    """Merge the FTS5 index of hospital search into one b-tree (database maintenance).

    SQLite only: FTS5's 'optimize' command. Every hospital insert or edit adds a
    small segment to the index (the triggers of migration 0001); merging them keeps
    search from reading many segments. Run inside transaction(conn).
    """
    conn.execute("INSERT INTO hospitals_fts (hospitals_fts) VALUES ('optimize')")


# --- API keys of a hospital's systems (issue #16 item 10) ------------------------------

API_KEY_COLUMNS = """
    k.id, k.hospital_id, k.name, k.prefix, k.created_by, u.name AS created_by_name,
    k.created_at, k.last_used_at, k.revoked_at, k.revoked_by
"""


def insert_api_key(conn, *, hospital_id, name, prefix, key_hash, created_by, now):
    return conn.execute(
        """
        INSERT INTO hospital_api_keys (hospital_id, name, prefix, key_hash, created_by, created_at)
        VALUES (?, ?, ?, ?, ?, ?)
        RETURNING id
        """,
        (hospital_id, name, prefix, key_hash, created_by, now),
    ).fetchone()["id"]


def count_live_api_keys(conn, hospital_id):
    return conn.execute(
        "SELECT count(*) AS n FROM hospital_api_keys WHERE hospital_id = ? AND revoked_at IS NULL",
        (hospital_id,),
    ).fetchone()["n"]


def get_api_key(conn, key_id):
    """One key as lists show it (never its hash)."""
    return conn.execute(
        f"""
        SELECT {API_KEY_COLUMNS}
        FROM hospital_api_keys AS k LEFT JOIN users AS u ON u.id = k.created_by
        WHERE k.id = ?
        """,
        (key_id,),
    ).fetchone()


def list_api_keys(conn, hospital_id):
    """The hospital's keys, revoked ones included, newest first (never their hashes)."""
    return conn.execute(
        f"""
        SELECT {API_KEY_COLUMNS}
        FROM hospital_api_keys AS k LEFT JOIN users AS u ON u.id = k.created_by
        WHERE k.hospital_id = ?
        ORDER BY k.created_at DESC, k.id DESC
        """,
        (hospital_id,),
    ).fetchall()


def revoke_api_key(conn, key_id, *, hospital_id, revoked_by, now):
    """live -> revoked; None if it is not a live key of this hospital."""
    return conn.execute(
        """
        UPDATE hospital_api_keys SET revoked_at = ?, revoked_by = ?
        WHERE id = ? AND hospital_id = ? AND revoked_at IS NULL
        RETURNING id
        """,
        (now, revoked_by, key_id, hospital_id),
    ).fetchone()


def get_live_api_key_by_hash(conn, key_hash):
    """The unrevoked key with this hash and its hospital's status, or None."""
    return conn.execute(
        """
        SELECT k.id, k.hospital_id, k.name, k.prefix, h.status AS hospital_status
        FROM hospital_api_keys AS k JOIN hospitals AS h ON h.id = k.hospital_id
        WHERE k.key_hash = ? AND k.revoked_at IS NULL
        """,
        (key_hash,),
    ).fetchone()


def count_api_key_use(conn, key_id, *, now, window_floor):
    """One request made with the key: the check and the count are one statement.

    A window that started at or before ``window_floor`` (now - the limit's seconds)
    is over: the count starts again at 1. Also records last_used_at. Returns the
    window's start and count after this request (None if the key was revoked meanwhile).
    """
    return conn.execute(
        """
        UPDATE hospital_api_keys
        SET window_count = CASE WHEN window_started_at IS NULL OR window_started_at <= :floor
                                THEN 1 ELSE window_count + 1 END,
            window_started_at = CASE WHEN window_started_at IS NULL
                                          OR window_started_at <= :floor
                                     THEN :now ELSE window_started_at END,
            last_used_at = :now
        WHERE id = :id AND revoked_at IS NULL
        RETURNING window_started_at, window_count
        """,
        {"id": key_id, "now": now, "floor": window_floor},
    ).fetchone()
