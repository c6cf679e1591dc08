"""A response Schema whose dump skips marshmallow's per-field machinery for plain fields.

Profiling the read endpoints (hospital search, my bookings) showed a third of
each request spent in marshmallow's generic ``Field.serialize`` path
(accessor, ``get_value``, missing-checks) for fields that only copy a str or an
int out of a dict. ``ResponseSchema`` does exactly what marshmallow does for
those fields (and for lists of plain strings or of nested ResponseSchemas
without hooks), directly, and hands every other field (Money, Bool, Method,
anything with a default or a dotted attribute) to marshmallow unchanged.
Pre/post-dump hooks still run: only ``_serialize`` is replaced.
The output is identical; tests/test_dumping.py compares it with marshmallow's.
"""
import marshmallow as ma
from marshmallow import fields
from marshmallow.decorators import POST_DUMP, PRE_DUMP
from marshmallow.utils import ensure_text_type, missing

from app.validation import CamelCase

_STRING = "string"
_INTEGER = "integer"
_STRING_LIST = "string list"  # List(Str())
_NESTED_LIST = "nested list"  # List(Nested(SomeResponseSchema)) without dump hooks
_PLAIN_DUMP = "plain dump"  # a field whose class says how to dump a value: plain_dump(value)


def _kind(field):
    """(kind, nested schema or converter or None); kind None: marshmallow serializes the field."""
    if field.dump_default is not missing:
        return None, None
    attribute = field.attribute
    if attribute is not None and "." in attribute:
        return None, None
    plain_dump = getattr(field, "plain_dump", None)
    if callable(plain_dump):
        # The field promises plain_dump(value) is its _serialize for any present value.
        return _PLAIN_DUMP, plain_dump
    if type(field) is fields.String:
        return _STRING, None
    if type(field) is fields.Integer and not field.as_string:
        return _INTEGER, None
    if type(field) is fields.List and type(field.inner) is fields.String:
        return _STRING_LIST, None
    if type(field) is fields.List and type(field.inner) is fields.Nested and not field.inner.many:
        nested = field.inner.schema  # built with the field's only/exclude, as marshmallow does
        if (isinstance(nested, ResponseSchema) and not nested.many
                and not nested._hooks[PRE_DUMP] and not nested._hooks[POST_DUMP]):
            return _NESTED_LIST, nested
    return None, None


class _NeverExact:
    """The exact type of fields that have no copy-as-is fast path (no value is one)."""


_EXACT_TYPE = {_STRING: str, _INTEGER: int}


class ResponseSchema(CamelCase, ma.Schema):
    """Base of response schemas on hot read paths; dumps dicts faster, identically."""

    def _plan(self):
        # Built once per schema instance (dump_fields is fixed after __init__).
        plan = self.__dict__.get("_dump_plan")
        if plan is None:
            plan = []
            for attr_name, field in self.dump_fields.items():
                key = field.data_key if field.data_key is not None else attr_name
                source = field.attribute or attr_name
                kind, helper = _kind(field)
                # A str for a String or an int (not a bool) for an Integer is dumped as is:
                # what the database hands back, so most values take this one check.
                exact = _EXACT_TYPE.get(kind, _NeverExact)
                plan.append((source, exact, key, attr_name, field, kind, helper))
            self.__dict__["_dump_plan"] = plan
        return plan

    def _serialize(self, obj, *, many=False):
        if many and obj is not None:
            serialize = self._serialize
            return [serialize(item) for item in obj]
        if type(obj) is not dict or type(self).get_attribute is not ma.Schema.get_attribute:
            return super()._serialize(obj, many=False)
        ret = self.dict_class()
        get = obj.get
        # helper: the nested schema of a _NESTED_LIST, the plain_dump of a _PLAIN_DUMP
        for source, exact, key, attr_name, field, kind, helper in self._plan():
            if kind is None:
                value = field.serialize(attr_name, obj, accessor=self.get_attribute)
                if value is missing:
                    continue
                ret[key] = value
                continue
            value = get(source, missing)
            if type(value) is exact:
                ret[key] = value
            elif value is missing:
                # marshmallow then falls back to getattr (a dict's own methods): rare, keep it exact
                value = field.serialize(attr_name, obj, accessor=self.get_attribute)
                if value is not missing:
                    ret[key] = value
            elif value is None:
                ret[key] = None
            elif kind is _STRING:
                ret[key] = ensure_text_type(value)
            elif kind is _INTEGER:
                ret[key] = int(value)
            elif kind is _PLAIN_DUMP:
                ret[key] = helper(value)
            elif kind is _STRING_LIST:
                ret[key] = [None if each is None else ensure_text_type(each) for each in value]
            else:  # _NESTED_LIST: what List -> Nested -> dump would do, minus the calls
                serialize = helper._serialize
                ret[key] = [None if each is None else serialize(each) for each in value]
        return ret
