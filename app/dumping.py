"""A response Schema whose dump skips marshmallow's per-field machinery for plain fields.

Profiling the read endpoints (hospital search, my bookings) showed a third of
each request spent in marshmallow's generic ``Field.serialize`` path
(accessor, ``get_value``, missing-checks) for fields that only copy a str or an
int out of a dict. ``ResponseSchema`` does exactly what marshmallow does for
those fields, directly, and hands every other field (Money, Nested, List,
Method, anything with a default or a dotted attribute) to marshmallow
unchanged. Pre/post-dump hooks still run: only ``_serialize`` is replaced.
The output is identical; tests/test_dumping.py compares it with marshmallow's.
"""
import marshmallow as ma
from marshmallow import fields
from marshmallow.utils import ensure_text_type, missing

_STRING = object()
_INTEGER = object()


def _kind(field):
    """_STRING or _INTEGER when the field is a plain copy of one dict key, else None."""
    if field.dump_default is not missing:
        return None
    attribute = field.attribute
    if attribute is not None and "." in attribute:
        return None
    if type(field) is fields.String:
        return _STRING
    if type(field) is fields.Integer and not field.as_string:
        return _INTEGER
    return None


class ResponseSchema(ma.Schema):
    """Base of response schemas on hot read paths; dumps dicts faster, identically."""

    def _plan(self):
        # Built once per schema instance (dump_fields is fixed after __init__).
        plan = self.__dict__.get("_dump_plan")
        if plan is None:
            plan = []
            for attr_name, field in self.dump_fields.items():
                key = field.data_key if field.data_key is not None else attr_name
                source = field.attribute or attr_name
                plan.append((attr_name, source, key, field, _kind(field)))
            self.__dict__["_dump_plan"] = plan
        return plan

    def _serialize(self, obj, *, many=False):
        if many and obj is not None:
            return [self._serialize(item) for item in obj]
        if type(obj) is not dict or type(self).get_attribute is not ma.Schema.get_attribute:
            return super()._serialize(obj, many=False)
        ret = self.dict_class()
        for attr_name, source, key, field, kind in self._plan():
            if kind is None:
                value = field.serialize(attr_name, obj, accessor=self.get_attribute)
                if value is missing:
                    continue
                ret[key] = value
                continue
            value = obj.get(source, missing)
            if value is missing:
                # marshmallow then falls back to getattr (a dict's own methods): rare, keep it exact
                value = field.serialize(attr_name, obj, accessor=self.get_attribute)
                if value is not missing:
                    ret[key] = value
                continue
            if value is None:
                ret[key] = None
            elif kind is _STRING:
                ret[key] = value if type(value) is str else ensure_text_type(value)
            else:
                ret[key] = int(value)
        return ret
