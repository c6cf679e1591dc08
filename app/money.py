"""Money is exact: integer minor units (poisha) in the database and in code,
decimal strings with two places ("1500.00") in JSON, never floats."""
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import marshmallow as ma

# 100 crore BDT: beyond any real hospital bill, well inside SQLite's integer range.
MAX_AMOUNT_MINOR = 100_000_000_000
_MAX_AMOUNT = Decimal(MAX_AMOUNT_MINOR) / 100
# Far beyond any multiplier a price accepts (the schema bounds it); only keeps the
# arithmetic below finite and the basis points inside SQLite's integer range.
_MAX_MULTIPLIER = Decimal(1_000_000)


def format_minor(amount_minor):
    """12345 -> "123.45" (sign kept for signed amounts)."""
    if amount_minor is None:
        return None
    sign = "-" if amount_minor < 0 else ""
    whole, cents = divmod(abs(int(amount_minor)), 100)
    return f"{sign}{whole}.{cents:02d}"


def _finite_decimal(value, *, largest, what):
    """Decimal(value), refused (ValueError) unless finite and at most ``largest`` in size.

    The size is checked before any arithmetic: "1e999999999" is a valid Decimal,
    but scaling it (x 100, x 10000) raises decimal.Overflow. copy_abs() and the
    comparison are exact and never consult the decimal context."""
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"Not a valid {what}.") from None
    if not amount.is_finite():
        raise ValueError(f"Not a valid {what}.")
    if amount.copy_abs() > largest:
        raise ValueError(f"{what.capitalize()} is too large.")
    return amount


def parse_minor(value, *, allow_negative=False, allow_zero=False):
    """"1500.5" / "1500.50" / 1500 -> 150050. Raises ValueError with a reason."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise ValueError("Must be a decimal string such as \"1500.00\".")
    amount = _finite_decimal(value, largest=_MAX_AMOUNT, what="amount")
    if amount.as_tuple().exponent < -2:
        raise ValueError("At most two decimal places.")
    minor = int(amount * 100)
    if minor < 0 and not allow_negative:
        raise ValueError("Must not be negative.")
    if minor == 0 and not allow_zero:
        raise ValueError("Must not be zero.")
    return minor


def apply_bp(amount_minor, basis_points):
    """amount × bp / 10000, rounded half up to the poisha (exact integer arithmetic)."""
    product = amount_minor * basis_points
    if product >= 0:
        return (product + 5000) // 10000
    return -((-product + 5000) // 10000)


def split_fee(amount_minor, platform_fee_bp):
    """(platform_fee, hospital_share): the fee is rounded, the share is the rest,
    so fee + share == amount exactly."""
    fee = apply_bp(amount_minor, platform_fee_bp)
    return fee, amount_minor - fee


def parse_multiplier_bp(value):
    """"1.5" -> 15000 basis points; at most four decimals."""
    amount = _finite_decimal(value, largest=_MAX_MULTIPLIER, what="multiplier")
    if amount.as_tuple().exponent < -4:
        raise ValueError("Not a valid multiplier (at most four decimals).")
    return int((amount * 10000).to_integral_value(ROUND_HALF_UP))


def format_bp(basis_points):
    """15000 -> "1.5" (multipliers), 500 -> "0.05" (rates as fractions)."""
    return str((Decimal(basis_points) / 10000).normalize())


class Money(ma.fields.Field):
    """A money amount: loads "1500.00" (or a JSON number) into integer minor units,
    dumps minor units as "1500.00". Positive by default."""

    def __init__(self, *, allow_negative=False, allow_zero=False, **kwargs):
        kwargs.setdefault("metadata", {})
        kwargs["metadata"].setdefault(
            "description", "Decimal string with two places, e.g. \"1500.00\" (BDT)."
        )
        super().__init__(**kwargs)
        self.allow_negative = allow_negative
        self.allow_zero = allow_zero

    def _serialize(self, value, attr, obj, **kwargs):
        return format_minor(value)

    def plain_dump(self, value):
        """What _serialize does, without marshmallow's per-field call chain
        (app.extensions.dumping.ResponseSchema uses it on hot read paths)."""
        return format_minor(value)

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return parse_minor(value, allow_negative=self.allow_negative, allow_zero=self.allow_zero)
        except ValueError as error:
            raise ma.ValidationError(str(error)) from None
