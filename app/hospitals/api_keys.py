"""A hospital's API keys for its own systems (issue #16 item 10): created, listed
and revoked by its staff (or an admin). How a key authenticates and what it may
call: app/auth/api_keys.py.

The key is returned once, by create; only its SHA-256 and a short visible prefix
are stored. Creating and revoking are written to admin_audit_log
(``api_key.create`` / ``api_key.revoke``, target ``api_key``); a key's own changes
of resource counts are in the resource audit log with the key as actor.

Service functions take the hospital's id, so the staff's routes
(``/api/hospitals/my-hospital/api-keys``) and the admin's
(``/api/admin/hospitals/{id}/api-keys``) share them.
"""
from app.admin.queries import insert_audit_entry
from app.auth.api_keys import new_api_key
from app.auth.policy import manages_hospital
from app.db import transaction
from app.errors import Conflict, NotFound
from app.hospitals import queries
from app.timeutil import to_iso


def _managed(conn, hospital_id, actor):
    """:raise 404: no such hospital, or the caller does not manage it."""
    if hospital_id is None or not manages_hospital(actor, hospital_id):
        raise NotFound("Hospital not found.")
    hospital = queries.get_hospital(conn, hospital_id)
    if hospital is None:
        raise NotFound("Hospital not found.")
    return hospital


def list_keys(conn, hospital_id, actor):
    """:raise 404: as for _managed."""
    _managed(conn, hospital_id, actor)
    return queries.list_api_keys(conn, hospital_id)


def create_key(conn, hospital_id, actor, *, name, max_keys, ip_address=None, now):
    """Returns the key row plus ``key``, the secret (never stored, never shown again).

    :raise 404: as for _managed. :raise 409: the hospital holds ``max_keys`` live keys.
    """
    key, prefix, key_hash = new_api_key()
    stamp = to_iso(now)
    with transaction(conn):
        _managed(conn, hospital_id, actor)
        if queries.count_live_api_keys(conn, hospital_id) >= max_keys:
            raise Conflict(f"A hospital holds at most {max_keys} live API keys: revoke one "
                           "first.")
        key_id = queries.insert_api_key(conn, hospital_id=hospital_id, name=name, prefix=prefix,
                                        key_hash=key_hash, created_by=actor.id, now=stamp)
        insert_audit_entry(conn, actor_id=actor.id, action="api_key.create",
                           target_type="api_key", target_id=key_id, ip_address=ip_address,
                           now=stamp, details={"hospital_id": hospital_id, "name": name,
                                               "prefix": prefix})
        row = queries.get_api_key(conn, key_id)
    return {**row, "key": key}


def revoke_key(conn, hospital_id, actor, key_id, *, ip_address=None, now):
    """Revoke at once: the next request with the key is 401.

    :raise 404: as for _managed, or no such key of this hospital.
    :raise 409: already revoked.
    """
    stamp = to_iso(now)
    with transaction(conn):
        _managed(conn, hospital_id, actor)
        key = queries.get_api_key(conn, key_id)
        if key is None or key["hospital_id"] != hospital_id:
            raise NotFound("API key not found.")
        if queries.revoke_api_key(conn, key_id, hospital_id=hospital_id, revoked_by=actor.id,
                                  now=stamp) is None:
            raise Conflict("This API key is already revoked.")
        insert_audit_entry(conn, actor_id=actor.id, action="api_key.revoke",
                           target_type="api_key", target_id=key_id, ip_address=ip_address,
                           now=stamp, details={"hospital_id": hospital_id, "name": key["name"],
                                               "prefix": key["prefix"]})
    return queries.get_api_key(conn, key_id)
