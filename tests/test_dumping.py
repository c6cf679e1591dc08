"""ResponseSchema dumps exactly what marshmallow's own Schema dumps."""
from datetime import timedelta

import marshmallow as ma
import pytest
from marshmallow import fields

from app.bookings import queries as booking_queries
from app.bookings.schemas import BookingSchema
from app.db import get_db
from app.extensions.dumping import ResponseSchema
from app.money import Money
from app.hospitals import service as hospital_service
from app.hospitals.schemas import HospitalDetailSchema, HospitalListItemSchema


class Plain(ma.Schema):
    name = fields.Str(data_key="fullName")
    age = fields.Int()
    code = fields.Str(attribute="ref")
    counted = fields.Int(as_string=True)
    label = fields.Str(dump_default="none")
    items = fields.Str()  # a dict's own method name: marshmallow falls back to getattr
    tags = fields.List(fields.Str())
    children = fields.List(fields.Nested(lambda: FastChild()))
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
     "amount": 150050, "refund_minor": -1205},
    {"amount": 0, "refund_minor": None},
    {"amount": None, "refund_minor": 7},
    {"name": None, "age": None, "ref": None, "counted": None, "label": None, "tags": [],
     "children": None, "hooked": None},
    {"tags": [None, 5, b"b"], "children": []},
    {"name": b"bytes", "age": 7.9, "ref": 12, "counted": True},
    {"age": True},
    {},
]


@pytest.mark.parametrize("row", ROWS)
def test_same_output_as_marshmallow(row):
    assert Fast().dump(row) == Plain().dump(row)
    assert Fast(many=True).dump([row, row]) == Plain(many=True).dump([row, row])


def test_only_and_exclude_are_respected():
    row = ROWS[0]
    assert Fast(only=("name", "age")).dump(row) == Plain(only=("name", "age")).dump(row)
    assert Fast(exclude=("tags",)).dump(row) == Plain(exclude=("tags",)).dump(row)


def test_objects_that_are_not_dicts_take_marshmallow_s_path():
    class Row:
        name, age, ref, counted, label, tags = "A", 1, "r", 2, "l", []

    assert Fast().dump(Row()) == Plain().dump(Row())


def _as_plain(schema_class):
    """The same schema class with marshmallow's own _serialize."""
    return type("Plain" + schema_class.__name__, (schema_class,),
                {"_serialize": ma.Schema._serialize})


def test_booking_and_hospital_rows_dump_identically(client, make):
    hospital = make.hospital(resources={"beds": 5, "icu": 2}, prices={"beds": 150000},
                             specialties=("cardiology", "trauma"))
    user = make.user()
    make.booking(user, hospital)
    make.booking(user, hospital, status="approved", scheduled_in=timedelta(days=3))

    with client.application.app_context():
        conn = get_db()
        rows = booking_queries.list_bookings(conn, {"user_id": user["id"]},
                                             limit=20, offset=0)
        assert rows
        assert BookingSchema(many=True).dump(rows) == _as_plain(BookingSchema)(many=True).dump(rows)
        detail = hospital_service.detail(conn, hospital["id"], None)
        assert HospitalDetailSchema().dump(detail) == _as_plain(HospitalDetailSchema)().dump(detail)
        listed, _ = hospital_service.search(conn, q=None, resource_type=None, min_available=None,
                                            limit=20, offset=0)
        assert listed
        assert (HospitalListItemSchema(many=True).dump(listed)
                == _as_plain(HospitalListItemSchema)(many=True).dump(listed))
