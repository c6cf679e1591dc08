import ast
from pathlib import Path

import marshmallow as ma
import pytest
from marshmallow import fields

from app.validation import Bool, CamelCaseSchema


class Flags(ma.Schema):
    flag = Bool()


@pytest.mark.parametrize("stored, dumped", [(1, True), (0, False), (True, True), (None, None)])
def test_booleans_from_sqlite_dump_as_json_booleans(stored, dumped):
    assert Flags().dump({"flag": stored}) == {"flag": dumped}


def test_payment_config_is_active_is_a_boolean(client, make):
    headers = make.auth(make.admin())
    [config] = client.get("/api/admin/payment-config", headers=headers).json
    assert config["isActive"] is True
    r = client.put("/api/admin/payment-config", json={"isActive": False}, headers=headers)
    assert r.status_code == 200 and r.json["isActive"] is False


class CamelCased(CamelCaseSchema):
    created_at = fields.Str()
    amount_minor = fields.Int(data_key="amount")  # an explicit JSON name is kept as written


def test_json_names_are_the_camel_case_of_attribute_names():
    schema = CamelCased()
    assert schema.dump({"created_at": "x", "amount_minor": 1}) == {"createdAt": "x", "amount": 1}
    assert schema.load({"createdAt": "x", "amount": 1}) == {"created_at": "x", "amount_minor": 1}


def test_schema_modules_import_no_service():
    """Schemas describe the API; the rules (services, SQL) depend on them, never the reverse."""
    for path in sorted((Path(__file__).parents[1] / "app").glob("*/schemas.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                last = node.module.rsplit(".", 1)[-1]
                assert last not in ("service", "queries"), f"{path}: from {node.module} import"
