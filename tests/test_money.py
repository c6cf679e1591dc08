import pytest

from app.money import apply_bp, format_minor, parse_minor, parse_multiplier_bp, split_fee
from app.pricing.rules import calculate_amount, refund_for_cancellation

pytestmark = pytest.mark.no_database


@pytest.mark.parametrize("text, minor", [("1500.00", 150000), ("1500.5", 150050), ("0.01", 1),
                                         (1500, 150000), ("  12 ", 1200), (0.1, 10)])
def test_parse(text, minor):
    assert parse_minor(text) == minor


@pytest.mark.parametrize("bad", ["1.001", "-1.00", "0", "0.00", "NaN", "Infinity", "abc", "",
                                 "1e30", True, None, [1], "99999999999999"])
def test_parse_rejects(bad):
    with pytest.raises(ValueError):
        parse_minor(bad)


def test_parse_signed_and_zero_when_allowed():
    assert parse_minor("-5.25", allow_negative=True) == -525
    assert parse_minor("0", allow_zero=True) == 0


@pytest.mark.parametrize("minor, text", [(0, "0.00"), (1, "0.01"), (150050, "1500.50"), (-525, "-5.25")])
def test_format(minor, text):
    assert format_minor(minor) == text


def test_apply_bp_rounds_half_up_exactly():
    assert apply_bp(10001, 5000) == 5001  # 5000.5 -> 5001
    assert apply_bp(333, 3333) == 111
    assert apply_bp(-10001, 5000) == -5001


@pytest.mark.parametrize("amount", [1, 99, 100, 12345, 999_999_999])
@pytest.mark.parametrize("fee_bp", [0, 1, 500, 3333, 10000])
def test_split_fee_always_adds_up(amount, fee_bp):
    fee, share = split_fee(amount, fee_bp)
    assert fee + share == amount and fee >= 0 and share >= 0


def test_multiplier():
    assert parse_multiplier_bp("1.5") == 15000 and parse_multiplier_bp(2) == 20000
    with pytest.raises(ValueError):
        parse_multiplier_bp("1.00001")


PRICE = {"base_price_minor": 100000, "price_per_hour_minor": 1000, "price_per_day_minor": 50000,
         "emergency_multiplier_bp": 15000}


def test_pricing_rule():
    amount, breakdown = calculate_amount(PRICE, 25, "medium")
    # base 1000.00 + 25 h × 10.00 + 2 days × 500.00
    assert amount == 100000 + 25000 + 100000 == breakdown["total_minor"]
    assert breakdown["days"] == 2 and breakdown["multiplier_bp"] == 10000
    urgent, breakdown = calculate_amount(PRICE, 25, "critical")
    assert urgent == 337500 and breakdown["emergency_surcharge_minor"] == 112500


def test_pricing_rule_rounds_to_the_poisha():
    price = {**PRICE, "base_price_minor": 1, "price_per_hour_minor": 0, "price_per_day_minor": 0}
    assert calculate_amount(price, 1, "high")[0] == 2  # 1.5 poisha -> 2


def test_refund_policy():
    policy = {"cancellation_window_hours": 24, "refund_inside_window_bp": 5000}
    assert refund_for_cancellation(10001, hours_before_start=24, policy=policy) == 10001
    assert refund_for_cancellation(10001, hours_before_start=23.9, policy=policy) == 5001
    assert refund_for_cancellation(10001, hours_before_start=-5, policy=policy) == 5001


@pytest.mark.parametrize("huge", ["1e999999999", "-1e999999999", "9e999999", "1E+1000000"])
def test_parse_refuses_a_huge_exponent_as_a_value_error(huge):
    """Decimal accepts "1e999999999"; scaling it to poisha raised decimal.Overflow (a 500)."""
    with pytest.raises(ValueError, match="too large"):
        parse_minor(huge, allow_negative=True)


@pytest.mark.parametrize("huge", ["1e999999999", "-1e999999999", "1E+1000000"])
def test_multiplier_refuses_a_huge_exponent_as_a_value_error(huge):
    with pytest.raises(ValueError, match="too large"):
        parse_multiplier_bp(huge)

