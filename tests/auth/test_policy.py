"""The access rules of app.auth.policy as tables: role × object -> answer.

The HTTP scenario tests show each rule at work in its domain (404 for what the
caller may not see); these pin the rules themselves, edge cases included (an
authority without a hospital, objects without a hospital, anonymous callers).
"""
from types import SimpleNamespace

import pytest

from app.auth import policy

HERE, ELSEWHERE = 10, 20
OWNER_ID = 5


def _actor(id, role, hospital_id=None):
    return SimpleNamespace(id=id, role=role, hospital_id=hospital_id)


ACTORS = {
    "admin": _actor(1, "admin"),
    "authority of this hospital": _actor(2, "hospital-authority", HERE),
    "authority of another hospital": _actor(3, "hospital-authority", ELSEWHERE),
    "authority without a hospital": _actor(4, "hospital-authority"),
    "owner": _actor(OWNER_ID, "user"),
    "another user": _actor(6, "user"),
    "anonymous": None,
}

BOOKING = {"id": 100, "user_id": OWNER_ID, "hospital_id": HERE}
PAYMENT = {"id": 200, "user_id": OWNER_ID, "hospital_id": HERE}
TOPUP = {"id": 201, "user_id": OWNER_ID, "hospital_id": None}  # a wallet top-up: no hospital
BLOOD_REQUEST = {"id": 300, "requester_id": OWNER_ID, "hospital_id": HERE}
BLOOD_REQUEST_NO_HOSPITAL = {"id": 301, "requester_id": OWNER_ID, "hospital_id": None}


def _table(*rows):
    """(actor name, expected) rows -> pytest params with the actor name as the id."""
    return [pytest.param(ACTORS[name], expected, id=name) for name, expected in rows]


@pytest.mark.parametrize("actor, expected", _table(
    ("admin", True),
    ("authority of this hospital", True),
    ("authority of another hospital", False),
    ("authority without a hospital", False),
    ("owner", False),
    ("another user", False),
    ("anonymous", False),
))
def test_manages_hospital(actor, expected):
    assert policy.manages_hospital(actor, HERE) is expected


@pytest.mark.parametrize("actor", [
    pytest.param(ACTORS[name], id=name)
    for name in ("authority without a hospital", "owner", "another user", "anonymous")
])
def test_nobody_but_an_admin_manages_a_missing_hospital(actor):
    # An authority without a hospital has hospital_id None: None never matches None.
    assert policy.manages_hospital(actor, None) is False
    assert policy.manages_hospital(ACTORS["admin"], None) is True


@pytest.mark.parametrize("actor, expected", _table(
    ("admin", True),
    ("authority of this hospital", True),
    ("authority of another hospital", False),
    ("authority without a hospital", False),
    ("owner", True),
    ("another user", False),
    ("anonymous", False),
))
def test_can_see_booking(actor, expected):
    assert policy.can_see_booking(actor, BOOKING) is expected


@pytest.mark.parametrize("actor, expected_payment, expected_topup", [
    pytest.param(ACTORS[name], payment, topup, id=name) for name, payment, topup in (
        ("admin", True, True),
        ("authority of this hospital", True, False),
        ("authority of another hospital", False, False),
        ("authority without a hospital", False, False),
        ("owner", True, True),
        ("another user", False, False),
        ("anonymous", False, False),
    )
])
def test_can_see_payment(actor, expected_payment, expected_topup):
    assert policy.can_see_payment(actor, PAYMENT) is expected_payment
    assert policy.can_see_payment(actor, TOPUP) is expected_topup


@pytest.mark.parametrize("actor, expected_payment, expected_topup", [
    pytest.param(ACTORS[name], payment, topup, id=name) for name, payment, topup in (
        ("admin", True, True),
        ("authority of this hospital", True, False),
        ("authority of another hospital", False, False),
        ("authority without a hospital", False, False),
        ("owner", False, False),  # a payer never refunds itself
        ("another user", False, False),
        ("anonymous", False, False),
    )
])
def test_can_refund_payment(actor, expected_payment, expected_topup):
    assert policy.can_refund_payment(actor, PAYMENT) is expected_payment
    assert policy.can_refund_payment(actor, TOPUP) is expected_topup


@pytest.mark.parametrize("actor, expected_linked, expected_unlinked", [
    pytest.param(ACTORS[name], linked, unlinked, id=name) for name, linked, unlinked in (
        ("admin", True, True),
        ("authority of this hospital", True, False),
        ("authority of another hospital", False, False),
        ("authority without a hospital", False, False),
        ("owner", True, True),
        ("another user", False, False),
        ("anonymous", False, False),
    )
])
def test_can_manage_blood_request(actor, expected_linked, expected_unlinked):
    assert policy.can_manage_blood_request(actor, BLOOD_REQUEST) is expected_linked
    assert policy.can_manage_blood_request(actor, BLOOD_REQUEST_NO_HOSPITAL) is expected_unlinked


@pytest.mark.parametrize("actor, expected", _table(
    ("admin", {}),
    ("authority of this hospital", {"hospital_id": HERE}),
    ("authority of another hospital", {"hospital_id": ELSEWHERE}),
    ("authority without a hospital", None),  # nothing, never everything
    ("owner", {"user_id": OWNER_ID}),
    ("another user", {"user_id": 6}),
))
def test_scope_for(actor, expected):
    assert policy.scope_for(actor) == expected


@pytest.mark.parametrize("actor, expected", _table(
    ("admin", True),
    ("authority of this hospital", False),
    ("owner", False),
    ("anonymous", False),
))
def test_is_admin(actor, expected):
    assert policy.is_admin(actor) is expected
