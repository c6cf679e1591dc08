"""The access rules of app.auth.policy as tables: role × object -> answer.

The HTTP scenario tests show each rule at work in its domain (404 for what the
caller may not see); these pin the rules themselves, edge cases included (an
authority without a hospital, objects without a hospital, anonymous callers).
"""
from types import SimpleNamespace

import pytest

from app.auth import policy

pytestmark = pytest.mark.no_database

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


# Each yes/no rule applied to one object: the columns of the table below.
RULES = (
    ("manages this hospital", lambda actor: policy.manages_hospital(actor, HERE)),
    ("sees the booking", lambda actor: policy.can_see_booking(actor, BOOKING)),
    ("sees the payment", lambda actor: policy.can_see_payment(actor, PAYMENT)),
    ("sees the top-up", lambda actor: policy.can_see_payment(actor, TOPUP)),
    ("refunds the payment", lambda actor: policy.can_refund_payment(actor, PAYMENT)),
    ("refunds the top-up", lambda actor: policy.can_refund_payment(actor, TOPUP)),
    ("manages the blood request",
     lambda actor: policy.can_manage_blood_request(actor, BLOOD_REQUEST)),
    ("manages the unlinked blood request",
     lambda actor: policy.can_manage_blood_request(actor, BLOOD_REQUEST_NO_HOSPITAL)),
)

Y, N = True, False
# Role x object: one row per actor, one column per rule above, in the same order.
# The payer never refunds itself; objects without a hospital belong to no authority.
TABLE = {
    #                                  hosp booking pay topup refund refund-topup blood unlinked
    "admin":                          (Y,   Y,      Y,  Y,    Y,     Y,           Y,    Y),
    "authority of this hospital":     (Y,   Y,      Y,  N,    Y,     N,           Y,    N),
    "authority of another hospital":  (N,   N,      N,  N,    N,     N,           N,    N),
    "authority without a hospital":   (N,   N,      N,  N,    N,     N,           N,    N),
    "owner":                          (N,   Y,      Y,  Y,    N,     N,           Y,    Y),
    "another user":                   (N,   N,      N,  N,    N,     N,           N,    N),
    "anonymous":                      (N,   N,      N,  N,    N,     N,           N,    N),
}


@pytest.mark.parametrize("actor, rule, expected", [
    pytest.param(ACTORS[name], rule, expected, id=f"{name} {label}")
    for name, row in TABLE.items()
    for (label, rule), expected in zip(RULES, row, strict=True)
])
def test_rule(actor, rule, expected):
    assert rule(actor) is expected


@pytest.mark.parametrize("actor", [
    pytest.param(ACTORS[name], id=name)
    for name in ("authority without a hospital", "owner", "another user", "anonymous")
])
def test_nobody_but_an_admin_manages_a_missing_hospital(actor):
    # An authority without a hospital has hospital_id None: None never matches None.
    assert policy.manages_hospital(actor, None) is False
    assert policy.manages_hospital(ACTORS["admin"], None) is True


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


# Issue #16: a hospital's licence number and staff follow "manages this hospital".
@pytest.mark.parametrize("actor, expected", _table(
    ("admin", True),
    ("authority of this hospital", True),
    ("authority of another hospital", False),
    ("authority without a hospital", False),
    ("owner", False),
    ("anonymous", False),
))
def test_licence_number_and_staff_are_for_those_who_manage_the_hospital(actor, expected):
    assert policy.sees_hospital_licence(actor, HERE) is expected
    assert policy.may_manage_staff(actor, HERE) is expected


@pytest.mark.parametrize("status, staff_may", [("pending", True), ("rejected", True),
                                               ("approved", False), ("suspended", False)])
def test_identity_of_a_reviewed_hospital_is_the_admins(status, staff_may):
    hospital = {"id": HERE, "status": status}
    assert policy.may_change_hospital_identity(ACTORS["admin"], hospital) is True
    assert policy.may_change_hospital_identity(
        ACTORS["authority of this hospital"], hospital) is staff_may
