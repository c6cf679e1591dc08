"""The SSLCommerz adapter over real HTTP against the stand-in gateway."""
import logging
import time

import pytest

from app.payments.sslcommerz import (
    GatewayNotConfigured,
    GatewayRefused,
    GatewayUnavailable,
    SslcommerzClient,
    verify_ipn_signature,
)
from tests.payments.fake_gateway import STORE_PASSWORD, sign

pytestmark = pytest.mark.no_database


@pytest.fixture
def client_(gateway):
    config = gateway.config()
    return SslcommerzClient(
        base_url=config["SSLCOMMERZ_BASE_URL"], store_id=config["SSLCOMMERZ_STORE_ID"],
        store_password=config["SSLCOMMERZ_STORE_PASSWORD"],
        timeout=config["SSLCOMMERZ_TIMEOUT_SECONDS"],
    )


def session(client_, tran_id="T1", amount_minor=150_050):
    return client_.create_session(
        tran_id=tran_id, amount_minor=amount_minor, currency="BDT",
        success_url="http://app/s", fail_url="http://app/f", cancel_url="http://app/c",
        ipn_url="http://app/ipn", customer={"name": "Nadia", "email": "n@example.test"},
        product_name="Booking", product_category="Hospital booking",
    )


def test_session_sends_the_documented_fields_and_returns_the_page(client_, gateway):
    result = session(client_)
    assert result["gateway_url"].startswith(gateway.base_url) and result["sessionkey"]
    sent = gateway.calls_to("session")[0]
    assert sent["total_amount"] == "1500.50" and sent["currency"] == "BDT"
    assert sent["tran_id"] == "T1" and sent["ipn_url"] == "http://app/ipn"
    assert sent["store_id"] == "rapidcaretest"


def test_session_refused_is_a_definite_refusal(client_, gateway):
    gateway.mode["session"] = "refuse"
    with pytest.raises(GatewayRefused, match="Invalid Information"):
        session(client_)


def test_wrong_credentials_are_refused_by_the_gateway(gateway):
    config = gateway.config()
    bad = SslcommerzClient(base_url=config["SSLCOMMERZ_BASE_URL"], store_id="rapidcaretest",
                           store_password="wrong", timeout=1)
    with pytest.raises(GatewayRefused, match="Credential"):
        session(bad)


@pytest.mark.parametrize("mode", ["500", "slow", "garbage"])
def test_unknown_outcomes_are_unavailable_not_refused(client_, gateway, mode):
    gateway.mode["session"] = mode
    started = time.monotonic()
    with pytest.raises(GatewayUnavailable):
        session(client_)
    # every call has a timeout: it gives up before the slow answer would have come
    assert time.monotonic() - started < gateway.slow_seconds


def test_unreachable_gateway_is_unavailable_and_hides_the_password(caplog):
    dead = SslcommerzClient(base_url="http://127.0.0.1:9", store_id="s",
                            store_password="very-secret-pass", timeout=0.5)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(GatewayUnavailable) as info:
        dead.validate("VAL1")
    assert "very-secret-pass" not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert "very-secret-pass" not in caplog.text
    assert "very-secret-pass" not in repr(dead)


def test_not_configured_makes_no_call(gateway):
    empty = SslcommerzClient(base_url=gateway.base_url, store_id="", store_password="", timeout=1)
    with pytest.raises(GatewayNotConfigured):
        empty.validate("VAL1")
    assert gateway.calls == []


def test_validation_query_and_refund_round_trip(client_, gateway):
    session(client_, "T2", 100_000)
    ipn = gateway.pay("T2")
    record = client_.validate(ipn["val_id"])
    assert record["status"] == "VALID" and record["amount"] == "1000.00"
    assert client_.validate(ipn["val_id"])["status"] == "VALIDATED"
    assert client_.validate("nope")["status"] == "INVALID_TRANSACTION"
    elements = client_.query_transaction("T2")
    assert [e["val_id"] for e in elements] == [ipn["val_id"]]
    assert client_.query_transaction("unknown") == []
    refund = client_.refund(bank_tran_id=ipn["bank_tran_id"], amount_minor=40_000,
                            remarks="partial", refe_id="RF1")
    assert refund["status"] == "success" and refund["refund_ref_id"]
    assert gateway.calls_to("refund")[0]["refund_amount"] == "400.00"
    assert client_.refund_status(refund["refund_ref_id"]) == "processing"
    with pytest.raises(GatewayRefused, match="exceeds"):
        client_.refund(bank_tran_id=ipn["bank_tran_id"], amount_minor=60_001, remarks="too much",
                       refe_id="RF2")


def test_password_travels_only_to_the_gateway(client_, gateway):
    session(client_, "T3")
    client_.validate("x")
    # the stand-in strips it from what it records; it must have been sent, though
    assert all("store_passwd" not in params for _, params in gateway.calls)
    assert len(gateway.calls) == 2


# -- the IPN signature --------------------------------------------------------------

IPN = {"tran_id": "T9", "val_id": "V9", "amount": "1500.00", "currency": "BDT",
       "status": "VALID", "bank_tran_id": "B9", "store_amount": "1462.50"}


def test_a_correctly_signed_ipn_verifies():
    assert verify_ipn_signature(sign(IPN), STORE_PASSWORD)


@pytest.mark.parametrize("field, value", [("amount", "1.00"), ("currency", "USD"),
                                          ("tran_id", "T10"), ("status", "VALIDATED"),
                                          ("val_id", "V10")])
def test_tampering_with_a_signed_field_breaks_the_signature(field, value):
    form = {**sign(IPN), field: value}
    assert not verify_ipn_signature(form, STORE_PASSWORD)


def test_signature_with_another_store_password_fails():
    assert not verify_ipn_signature(sign(IPN, "someone-else"), STORE_PASSWORD)


@pytest.mark.parametrize("left_out", ["amount", "currency", "tran_id", "status", "val_id"])
def test_a_signature_that_does_not_cover_what_we_act_on_is_refused(left_out):
    partial = {k: v for k, v in IPN.items() if k != left_out}
    form = {**sign(partial), left_out: IPN[left_out]}
    assert not verify_ipn_signature(form, STORE_PASSWORD)


@pytest.mark.parametrize("status", ["valid", "Validated", "VALID"])
def test_a_paid_status_in_any_case_must_sign_val_id(status):
    partial = {k: v for k, v in IPN.items() if k != "val_id"}
    form = {**sign({**partial, "status": status}), "val_id": IPN["val_id"]}
    assert not verify_ipn_signature(form, STORE_PASSWORD)
    assert verify_ipn_signature(sign({**IPN, "status": status}), STORE_PASSWORD)


@pytest.mark.parametrize("form", [{}, {"verify_sign": "abc"}, {**IPN, "verify_key": "amount"},
                                  {**sign(IPN), "verify_sign": ""}])
def test_missing_signature_parts_fail(form):
    assert not verify_ipn_signature(form, STORE_PASSWORD)


def test_no_store_password_never_verifies():
    assert not verify_ipn_signature(sign(IPN, ""), "")
