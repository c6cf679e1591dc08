"""Field validators, fields and schema bases shared by every domain's schemas."""
from datetime import timezone

import marshmallow as ma
from marshmallow import fields, validate

# The largest value an SQLite INTEGER holds: bound every id and count by it, since
# sqlite3 raises OverflowError (not a clean error) for a larger Python int.
SQLITE_MAX_INTEGER = 2**63 - 1
ID_RANGE = validate.Range(min=1, max=SQLITE_MAX_INTEGER)

PHONE = validate.Regexp(
    r"^\+?[0-9][0-9 \-]{5,19}$",
    error="Not a valid phone number (digits, spaces or dashes, optional leading +).",
)


class StrippedString(fields.String):
    """Strings are trimmed before validation, so '   ' is as empty as ''."""

    def _deserialize(self, value, attr, data, **kwargs):
        result = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in result:
            raise ma.ValidationError("NUL characters are not allowed.")
        return result.strip()


def camelcase(name):
    """snake_case -> camelCase: "created_at" -> "createdAt"."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class CamelCase:
    """Schema mixin: a field's JSON name is the camelCase of its attribute name.

    marshmallow's documented recipe ("Inferring field names", ``on_bind_field``),
    except that an explicit ``data_key`` is kept as written: the few JSON names that
    are not the attribute's camelCase (``amount`` for ``amount_minor``) say so where
    the field is declared.
    """

    def on_bind_field(self, field_name, field_obj):
        if field_obj.data_key is None:
            field_obj.data_key = camelcase(field_name)


class CamelCaseSchema(CamelCase, ma.Schema):
    """Base of response and query-string schemas."""


# ``Schema.at_least_one_of`` value: the body must send some field, whichever.
ANY_FIELD = "any field"


class Schema(CamelCaseSchema):
    """Base for request schemas: unknown fields are refused (422), never silently applied.

    ``at_least_one_of`` is for updates that would otherwise change nothing: a body
    that sends none of the named fields (attribute names), or no field at all with
    ``ANY_FIELD``, is a 422. ``openapi_constraints`` states it in the OpenAPI document.
    """

    at_least_one_of = ()

    class Meta:
        unknown = ma.RAISE

    @ma.validates_schema(pass_original=True)
    def _sends_at_least_one(self, data, original_data, **kwargs):
        wanted = self.at_least_one_of
        if not wanted:
            return
        if wanted == ANY_FIELD:
            if not original_data:
                raise ma.ValidationError("Send at least one field.")
        elif not any(name in data for name in wanted):
            raise ma.ValidationError(f"Send at least one of: {', '.join(_json_names(self, wanted))}.")


def _json_names(schema, attribute_names):
    return [schema.fields[name].data_key or name for name in attribute_names]


def openapi_constraints(schema):
    """What a schema enforces beyond its fields, as JSON Schema keywords (for app.extensions.api's
    converter): ``minProperties: 1`` for ANY_FIELD, else ``anyOf`` of ``required``."""
    wanted = getattr(schema, "at_least_one_of", ())
    if not wanted:
        return {}
    if wanted == ANY_FIELD:
        return {"minProperties": 1}
    return {"anyOf": [{"required": [name]} for name in _json_names(schema, wanted)]}


# Control characters other than tab, newline and carriage return are refused. A
# Regexp validator, so the OpenAPI document publishes it as the field's `pattern`.
NO_CONTROL_CHARS_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f]*$"
no_control_chars = validate.Regexp(
    NO_CONTROL_CHARS_PATTERN, error="Control characters are not allowed."
)


def clean_text(max_length, *, min_length=1, allow_control_chars=False, **kwargs):
    """A stripped string of min_length to max_length characters (min_length=None: no
    lower bound), refusing control characters.

    ``allow_control_chars=True`` is for the fields that accepted them before the rule
    existed: refusing them now would change what those endpoints take.
    """
    length = validate.Length(min=min_length, max=max_length)
    return StrippedString(
        validate=[length] if allow_control_chars else [length, no_control_chars], **kwargs
    )


def id_field(**kwargs):
    """An integer id: positive, and within SQLite's INTEGER range."""
    return fields.Int(validate=ID_RANGE, **kwargs)


class UtcDateTime(fields.AwareDateTime):
    """An ISO-8601 date-time WITH an offset (naive ones are refused), loaded as UTC."""

    default_error_messages = {"out_of_range": "Date-time out of range."}

    def _deserialize(self, value, attr, data, **kwargs):
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            return moment.astimezone(timezone.utc)
        except OverflowError:  # e.g. 9999-12-31T23:59-12:00 is past year 9999 in UTC
            raise self.make_error("out_of_range") from None


class Bool(fields.Boolean):
    """A boolean that dumps true/false: SQLite keeps booleans as 0/1, and marshmallow's
    Boolean dumps a value unchanged. Use this one for every boolean field."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else bool(value)


class JsonBool(Bool):
    """A request field that takes JSON true or false only: marshmallow's Boolean also
    takes "yes", "0" and 1, and 1 == True defeats a ``truthy={True}`` set."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value
