"""ResponseSchema dumps exactly what marshmallow's own Schema dumps.

"What marshmallow dumps" is the same schema class with ResponseSchema's ``_serialize``
taken out everywhere (``plain_marshmallow``), nested schemas included: comparing
against a plain copy of the outer class only would let a nested ResponseSchema dump
the same garbage on both sides.
"""
import importlib
from contextlib import contextmanager
from datetime import timedelta
from unittest import mock

import marshmallow as ma
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import fields

from app import BLUEPRINT_MODULES
from app.bookings import queries as booking_queries
from app.bookings.schemas import BookingSchema
from app.db import act_as_system, get_db
from app.extensions.dumping import ResponseSchema
from app.hospitals import service as hospital_service
from app.hospitals.schemas import HospitalDetailSchema, HospitalListItemSchema
from app.money import Money
from app.pricing.schemas import Multiplier


@contextmanager
def plain_marshmallow():
    """Every ResponseSchema dumps through marshmallow's own Schema._serialize."""
    with mock.patch.object(ResponseSchema, "_serialize", ma.Schema._serialize):
        yield


def plain_dump(schema_class, obj, **kwargs):
    with plain_marshmallow():
        return schema_class(**kwargs).dump(obj)


class Plain(ma.Schema):
    name = fields.Str(data_key="fullName")
    age = fields.Int()
    code = fields.Str(attribute="ref")
    counted = fields.Int(as_string=True)
    label = fields.Str(dump_default="none")
    items = fields.Str()  # a dict's own method name: marshmallow falls back to getattr
    tags = fields.List(fields.Str())
    children = fields.List(fields.Nested(lambda: FastChild()))
    child = fields.Nested(lambda: FastChild(), allow_none=True)
    hooked = fields.List(fields.Nested(lambda: HookedChild()))
    amount = Money(data_key="total")
    refund = Money(allow_negative=True, attribute="refund_minor")


class FastChild(ResponseSchema):
    n = fields.Int()
    s = fields.Str()


class HookedChild(ResponseSchema):
    n = fields.Int()

    @ma.post_dump
    def mark(self, data, **kwargs):
        return {**data, "hooked": True}


class Fast(ResponseSchema, Plain):
    pass


ROWS = [
    {"name": "Rahim", "age": 30, "ref": "R-1", "counted": 4, "label": "x", "tags": ["a"],
     "children": [{"n": 1, "s": "x"}, None, {"n": "2"}], "hooked": [{"n": 3}],
     "child": {"n": 5, "s": "y"}, "amount": 150050, "refund_minor": -1205},
    {"amount": 0, "refund_minor": None},
    {"amount": None, "refund_minor": 7},
    {"name": None, "age": None, "ref": None, "counted": None, "label": None, "tags": [],
     "children": None, "hooked": None, "child": None},
    {"tags": [None, 5, b"b"], "children": []},
    {"name": b"bytes", "age": 7.9, "ref": 12, "counted": True},
    {"age": True},
    {},
]


@pytest.mark.parametrize("row", ROWS)
def test_same_output_as_marshmallow(row):
    assert Fast().dump(row) == plain_dump(Fast, row) == plain_dump(Plain, row)
    assert Fast(many=True).dump([row, row]) == plain_dump(Fast, [row, row], many=True)


def test_only_and_exclude_are_respected():
    row = ROWS[0]
    only, exclude = ("name", "age", "children"), ("tags",)
    assert Fast(only=only).dump(row) == plain_dump(Fast, row, only=only)
    assert Fast(exclude=exclude).dump(row) == plain_dump(Fast, row, exclude=exclude)


def test_objects_that_are_not_dicts_take_marshmallow_s_path():
    class Row:
        name, age, ref, counted, label, tags = "A", 1, "r", 2, "l", []

    assert Fast().dump(Row()) == plain_dump(Fast, Row())


def test_booking_and_hospital_rows_dump_identically(client, make):
    hospital = make.hospital(resources={"beds": 5, "icu": 2}, prices={"beds": 150000},
                             specialties=("cardiology", "trauma"))
    user = make.user()
    make.booking(user, hospital)
    make.booking(user, hospital, status="approved", scheduled_in=timedelta(days=3))

    with client.application.app_context():
        conn = get_db()
        act_as_system()  # no request, no signed-in user: read as the system (row-level security)
        rows = booking_queries.list_bookings(conn, {"user_id": user["id"]},
                                             limit=20, offset=0)
        assert rows
        assert BookingSchema(many=True).dump(rows) == plain_dump(BookingSchema, rows, many=True)
        detail = hospital_service.detail(conn, hospital["id"], None)
        assert detail["resources"] and detail["prices"]
        assert HospitalDetailSchema().dump(detail) == plain_dump(HospitalDetailSchema, detail)
        listed, _ = hospital_service.search(conn, q=None, resource_type=None, min_available=None,
                                            limit=20, offset=0)
        assert listed
        assert (HospitalListItemSchema(many=True).dump(listed)
                == plain_dump(HospitalListItemSchema, listed, many=True))


def _response_schemas():
    """Every ResponseSchema subclass of the app, once every blueprint (and so every
    schema module) is imported; sorted so that every test worker collects the same list."""
    for module_name in BLUEPRINT_MODULES:
        importlib.import_module(module_name)
    found, todo = set(), [ResponseSchema]
    while todo:
        for subclass in todo.pop().__subclasses__():
            if subclass not in found:
                found.add(subclass)
                todo.append(subclass)
    return sorted((c for c in found if c.__module__.startswith("app.")),
                  key=lambda c: (c.__module__, c.__qualname__))


APP_SCHEMAS = _response_schemas()


def test_the_walk_finds_the_app_s_response_schemas():
    names = {c.__name__ for c in APP_SCHEMAS}
    assert {"BookingSchema", "QueuedBookingSchema", "HospitalDetailSchema",
            "HospitalListItemSchema", "ResourceSchema", "PriceSchema"} <= names


def values_for(field):
    """A strategy for what a row may hold for ``field``: mostly its own type, a few
    values of a neighbouring type (marshmallow converts them), None where allowed."""
    if isinstance(field, fields.Nested):
        one = rows_for(field.schema)
        values = st.lists(st.none() | one, max_size=3) if field.many else one
    elif isinstance(field, fields.List):
        values = st.lists(st.none() | values_for(field.inner), max_size=4)
    elif isinstance(field, Money):
        values = st.integers(-10**12, 10**12)
    elif isinstance(field, Multiplier):
        values = st.integers(0, 10**6)
    elif isinstance(field, fields.Boolean):
        values = st.booleans() | st.sampled_from([0, 1])
    elif isinstance(field, fields.Float):
        values = st.floats(allow_nan=False) | st.integers(-10**6, 10**6)
    elif isinstance(field, fields.Integer):
        values = st.integers(-2**63, 2**63 - 1) | st.booleans()
    elif isinstance(field, fields.String):
        values = st.text(max_size=20) | st.integers()
    else:
        raise AssertionError(f"no strategy for {type(field).__name__}: add one here")
    return st.none() | values if field.allow_none else values


def rows_for(schema):
    """Row dicts keyed as the schema reads them (``attribute`` or name); any key may be absent."""
    return st.fixed_dictionaries({}, optional={
        field.attribute or name: values_for(field) for name, field in schema.dump_fields.items()
    })


@pytest.mark.parametrize("schema_class", APP_SCHEMAS, ids=lambda c: c.__qualname__)
@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_every_response_schema_dumps_as_marshmallow_does(schema_class, data):
    rows = data.draw(st.lists(rows_for(schema_class()), max_size=3), label="rows")
    assert schema_class(many=True).dump(rows) == plain_dump(schema_class, rows, many=True)
    for row in rows:
        assert schema_class().dump(row) == plain_dump(schema_class, row)
