"""Pricing rules: active prices with kept history, quotes, and the payment policy.

A price is never edited: setting one closes the active row (effective_to = now)
and inserts the new one, in one transaction (migration 0010's triggers refuse
anything else). The amount of a quote follows app.pricing.rules.calculate_amount.
"""
from app.admin.queries import insert_audit_entry as insert_admin_audit
from app.auth.policy import is_admin
from app.db import transaction
from app.errors import NotFound
from app.hospitals.queries import get_hospital
from app.hospitals.service import managed_hospital, visible_hospital
from app.pricing import queries
from app.pricing.rules import calculate_amount
from app.timeutil import to_iso

POLICY_FIELDS = ("platform_fee_bp", "cancellation_window_hours", "refund_inside_window_bp")


def active_prices(conn, hospital_id, actor):
    """:raise 404: the hospital is not visible to the caller."""
    visible_hospital(conn, hospital_id, actor)
    return queries.list_active_prices(conn, hospital_id)


def set_price(conn, hospital_id, resource_type, price, actor, *, currency, ip_address, now):
    """Make ``price`` the active price of (hospital, type) from ``now``.

    :raise 404: the caller does not manage this hospital.
    """
    stamp = to_iso(now)
    with transaction(conn):
        managed_hospital(conn, hospital_id, actor)
        previous = queries.get_active_price(conn, hospital_id, resource_type)
        queries.close_active_price(conn, hospital_id, resource_type, stamp)
        new = queries.insert_price(
            conn, hospital_id=hospital_id, resource_type=resource_type,
            base_price_minor=price["base_price"], price_per_hour_minor=price["price_per_hour"],
            price_per_day_minor=price["price_per_day"],
            emergency_multiplier_bp=price["emergency_multiplier"], currency=currency,
            created_by=actor.id, now=stamp,
        )
        if is_admin(actor):
            insert_admin_audit(
                conn, actor_id=actor.id, action="price.set", target_type="hospital",
                target_id=hospital_id, ip_address=ip_address, now=stamp,
                details={"resourceType": resource_type, "newPriceId": new["id"],
                         "previousPriceId": previous["id"] if previous else None},
            )
    return new


def price_history(conn, hospital_id, actor, *, resource_type, limit, offset):
    """:raise 404: the caller does not manage this hospital."""
    managed_hospital(conn, hospital_id, actor)
    total = queries.count_price_history(conn, hospital_id, resource_type=resource_type)
    rows = queries.list_price_history(conn, hospital_id, resource_type=resource_type,
                                      limit=limit, offset=offset)
    return rows, total


def quote(conn, request, actor):
    """What a booking would cost at the hospital's active price.

    :raise 404: the hospital is not visible to the caller, or has no active
        price for this resource type.
    """
    hospital_id, resource_type = request["hospital_id"], request["resource_type"]
    visible_hospital(conn, hospital_id, actor)
    price = queries.get_active_price(conn, hospital_id, resource_type)
    if price is None:
        raise NotFound(f"This hospital has no price for {resource_type}.")
    amount, breakdown = calculate_amount(price, request["estimated_duration"], request["urgency"])
    return {**request, "amount_minor": amount, "currency": price["currency"],
            "breakdown": breakdown}


def payment_policy(conn, hospital_id, actor, config):
    """:raise 404: the hospital is not visible to the caller."""
    visible_hospital(conn, hospital_id, actor)
    return {"hospital_id": hospital_id, **queries.get_payment_policy(conn, hospital_id, config)}


def set_payment_policy(conn, hospital_id, changes, *, admin_id, ip_address, config, now):
    """Admin: set the hospital's fee and cancellation policy (unsent fields keep their value).

    :raise 404: no such hospital.
    """
    stamp = to_iso(now)
    with transaction(conn):
        if get_hospital(conn, hospital_id) is None:
            raise NotFound("Hospital not found.")
        old = queries.get_payment_policy(conn, hospital_id, config)
        new = {field: changes.get(field, old[field]) for field in POLICY_FIELDS}
        queries.upsert_payment_policy(conn, hospital_id, **new, updated_by=admin_id, now=stamp)
        insert_admin_audit(
            conn, actor_id=admin_id, action="payment_policy.set", target_type="hospital",
            target_id=hospital_id, ip_address=ip_address, now=stamp,
            details={"old": {field: old[field] for field in POLICY_FIELDS}, "new": new},
        )
    return {"hospital_id": hospital_id, **queries.get_payment_policy(conn, hospital_id, config)}
