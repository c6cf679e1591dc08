"""Roles and denials shared by the hospital, resource, pricing and admin tests
(the cast itself is the ``world`` fixture, tests/conftest.py)."""

ROLES = ("anonymous", "patient", "other_patient", "authority", "other_authority", "admin")
MANAGERS = ("authority", "admin")


def expected_denial(role):
    """What a role that may not act gets: 401 anonymous, 403 wrong role, 404 another
    hospital's authority (its objects are never confirmed to exist)."""
    if role == "anonymous":
        return 401
    if role in ("patient", "other_patient"):
        return 403
    return 404
