import marshmallow as ma
import pytest

from app.validation import Bool


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
