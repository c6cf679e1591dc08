"""The orjson-backed JSON provider says what Flask's own provider said."""
import json
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from uuid import UUID

import pytest
from flask import Flask
from flask.json.provider import DefaultJSONProvider

from app.extensions.json import OrjsonProvider


@dataclass
class Point:
    x: int
    y: str


VALUES = [
    {"name": "Rahim", "n": 3, "ok": True, "none": None, "list": [1, "a", None]},
    {"bangla": "ঢাকা মেডিকেল", "emoji": "🩸", "quote": "\"\\/\n"},
    {1: "int key", "nested": {2: [3]}},
    {"when": datetime(2026, 11, 22, 1, 2, 3, tzinfo=timezone.utc), "day": date(2026, 11, 22)},
    {"money": Decimal("1500.00"), "id": UUID("12345678-1234-5678-1234-567812345678")},
    {"point": Point(1, "y")},
    {"huge": 2 ** 70},  # beyond orjson's 64 bits: the standard encoder takes over
    [],
    "plain",
]


def _providers():
    app = Flask(__name__)
    flasks = DefaultJSONProvider(app)
    flasks.sort_keys = False  # as app/__init__.py had it: mixed-type keys cannot be sorted
    return OrjsonProvider(app), flasks, app


@pytest.mark.parametrize("value", VALUES)
def test_dumps_means_the_same_as_flask(value):
    ours, flasks, _ = _providers()
    assert json.loads(ours.dumps(value)) == json.loads(flasks.dumps(value))


@pytest.mark.parametrize("value", VALUES)
def test_response_body_means_the_same_as_flask(value):
    ours, flasks, app = _providers()
    with app.app_context():
        mine, theirs = ours.response(value), flasks.response(value)
    assert mine.mimetype == theirs.mimetype == "application/json"
    assert json.loads(mine.get_data()) == json.loads(theirs.get_data())
    assert mine.get_data().endswith(b"\n")


def test_non_ascii_is_utf8_not_escaped():
    ours, _, _ = _providers()
    assert ours.dumps({"city": "ঢাকা"}) == '{"city":"ঢাকা"}'


def test_debug_responses_stay_indented():
    ours, _, app = _providers()
    app.debug = True
    with app.app_context():
        body = ours.response({"a": 1}).get_data(as_text=True)
    assert body == '{\n  "a": 1\n}\n'


def test_the_service_uses_it(app):
    assert isinstance(app.json, OrjsonProvider)
