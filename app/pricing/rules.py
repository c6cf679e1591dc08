"""The pricing rule and the payment policy arithmetic, stated once and used by
pricing, bookings and payments.

Price of a booking (all integer poisha):
    days      = ceil(estimatedDuration hours / 24)
    subtotal  = basePrice + pricePerHour × hours + pricePerDay × days
    amount    = subtotal × emergencyMultiplier   when urgency is high or critical
              = subtotal                         otherwise
rounded half up to the poisha.

Refund on cancellation of a paid booking (the hospital's payment policy):
    cancelled at least `cancellationWindowHours` before scheduledDate -> 100 %
    later (inside the window, or after the scheduled time)            -> refundInsideWindow %
"""
from app.money import apply_bp

EMERGENCY_URGENCIES = ("high", "critical")


def calculate_amount(price, hours, urgency):
    """``price`` is a hospital_pricing row; returns (amount_minor, breakdown dict of minor units)."""
    if not 1 <= hours <= 168:
        raise ValueError("duration must be 1-168 hours")
    days = -(-hours // 24)
    base = price["base_price_minor"]
    hourly = price["price_per_hour_minor"] * hours
    daily = price["price_per_day_minor"] * days
    subtotal = base + hourly + daily
    multiplier_bp = price["emergency_multiplier_bp"] if urgency in EMERGENCY_URGENCIES else 10000
    amount = apply_bp(subtotal, multiplier_bp)
    breakdown = {
        "base_minor": base,
        "hourly_minor": hourly,
        "daily_minor": daily,
        "hours": hours,
        "days": days,
        "subtotal_minor": subtotal,
        "multiplier_bp": multiplier_bp,
        "emergency_surcharge_minor": amount - subtotal,
        "total_minor": amount,
    }
    return amount, breakdown


def refund_for_cancellation(paid_minor, *, hours_before_start, policy):
    """How much of ``paid_minor`` goes back when cancelled ``hours_before_start`` ahead."""
    if hours_before_start >= policy["cancellation_window_hours"]:
        return paid_minor
    return apply_bp(paid_minor, policy["refund_inside_window_bp"])
