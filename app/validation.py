"""Field validators and schema bases shared by every domain's schemas."""
import re

import marshmallow as ma
from marshmallow import fields, validate

# The largest value an SQLite INTEGER holds: bound every id and count by it, since
# sqlite3 raises OverflowError (not a clean error) for a larger Python int.
SQLITE_MAX_INTEGER = 2**63 - 1

PHONE = validate.Regexp(
    r"^\+?[0-9][0-9 \-]{5,19}$",
    error="Not a valid phone number (digits, spaces or dashes, optional leading +).",
)


def text(max_length, *, required=False, min_length=1, **kwargs):
    """A stripped string field between min_length and max_length characters."""
    return StrippedString(
        required=required, validate=validate.Length(min=min_length, max=max_length), **kwargs
    )


class StrippedString(fields.String):
    """Strings are trimmed before validation, so '   ' is as empty as ''."""

    def _deserialize(self, value, attr, data, **kwargs):
        result = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in result:
            raise ma.ValidationError("NUL characters are not allowed.")
        return result.strip()


class Schema(ma.Schema):
    """Base for request schemas: unknown fields are refused (422), never silently applied."""

    class Meta:
        unknown = ma.RAISE


def no_control_chars(value):
    if re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", value):
        raise ma.ValidationError("Control characters are not allowed.")


def clean_text(max_length, **kwargs):
    """Like ``text()`` (stripped, 1 to max_length characters), also refusing control characters."""
    return StrippedString(
        validate=[validate.Length(min=1, max=max_length), no_control_chars], **kwargs
    )


class Bool(fields.Boolean):
    """A boolean that dumps true/false: SQLite keeps booleans as 0/1, and marshmallow's
    Boolean dumps a value unchanged. Use this one for every boolean field."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else bool(value)
