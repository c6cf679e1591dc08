"""SSLCommerz (v4 API) over ``requests``: sessions, IPN signatures, validation, queries, refunds.

The protocol, as documented by SSLCommerz (developer.sslcommerz.com/doc/v4):

- Session: POST {base}/gwprocess/v4/api.php (form) with store_id, store_passwd,
  total_amount, currency, tran_id, success_url, fail_url, cancel_url, ipn_url,
  cus_* and product fields -> JSON {status: SUCCESS|FAILED, failedreason,
  sessionkey, GatewayPageURL}.
- IPN: the gateway POSTs a form to ipn_url with verify_sign and verify_key.
  verify_sign = md5("k1=v1&k2=v2...") over the fields named in verify_key plus
  store_passwd=md5(store password), keys sorted.
- Order validation: GET {base}/validator/api/validationserverAPI.php?val_id=&
  store_id=&store_passwd=&format=json -> {status: VALID|VALIDATED|INVALID_TRANSACTION,
  tran_id, amount, currency, bank_tran_id, ...}. Nothing is credited before it.
- Transaction query: GET {base}/validator/api/merchantTransIDvalidationAPI.php?
  tran_id=... -> {APIConnect, no_of_trans_found, element: [...]}.
- Refund: GET the same merchantTransIDvalidationAPI.php with bank_tran_id,
  refund_amount, refund_remarks, refe_id -> {APIConnect, status: success|failed|
  processing, refund_ref_id, errorReason}.

Every call has a timeout. A timeout, a connection error, a 5xx or an unreadable
answer raises ``GatewayUnavailable``: the outcome is UNKNOWN, so callers leave the
payment as it is for reconciliation and never retry blindly (a retry could charge
or refund twice). The store password is never logged and never appears in an
exception message (requests puts query strings, which carry it, in its messages).
"""
import hashlib
import hmac
import logging

import requests
from flask import current_app

from app.money import format_minor

log = logging.getLogger(__name__)

SESSION_PATH = "/gwprocess/v4/api.php"
VALIDATION_PATH = "/validator/api/validationserverAPI.php"
QUERY_PATH = "/validator/api/merchantTransIDvalidationAPI.php"

VALID_STATUSES = ("VALID", "VALIDATED")
# IPN statuses after which the customer has definitely not paid on this tran_id.
FAILED_STATUSES = ("FAILED", "CANCELLED", "UNATTEMPTED", "EXPIRED")
# Fields an IPN signature must cover before we believe anything it says.
SIGNED_FIELDS_REQUIRED = ("tran_id", "amount", "currency", "status")


class GatewayError(Exception):
    """Base class; the message never contains credentials."""


class GatewayUnavailable(GatewayError):
    """Timeout, connection failure, 5xx or garbage: the outcome is unknown."""


class GatewayRefused(GatewayError):
    """The gateway answered and said no: the outcome is known (nothing happened)."""


class GatewayNotConfigured(GatewayError):
    """No store id / password configured."""


def md5_hex(text):
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def verify_ipn_signature(form, store_password):
    """True if ``verify_sign`` matches the fields named in ``verify_key``.

    Also refuses a signature that does not cover the fields we act on
    (tran_id, amount, currency, status; val_id for a paid notification). The
    status is compared as the IPN handler reads it, whatever its case: a "valid"
    is a paid notification too, so its val_id must be signed as well.
    """
    verify_sign = str(form.get("verify_sign") or "")
    verify_key = str(form.get("verify_key") or "")
    if not verify_sign or not verify_key or not store_password:
        return False
    keys = [key for key in verify_key.split(",") if key]
    required = list(SIGNED_FIELDS_REQUIRED)
    if str(form.get("status") or "").upper() in VALID_STATUSES:
        required.append("val_id")
    if any(field not in keys for field in required):
        return False
    signed = {key: str(form[key]) for key in keys if key in form}
    signed["store_passwd"] = md5_hex(store_password)
    hash_string = "&".join(f"{key}={signed[key]}" for key in sorted(signed))
    return hmac.compare_digest(md5_hex(hash_string), verify_sign.lower())


class SslcommerzClient:
    def __init__(self, *, base_url, store_id, store_password, timeout):
        self.base_url = str(base_url).rstrip("/")
        self.store_id = str(store_id or "")
        self._store_password = str(store_password or "")
        self.timeout = float(timeout)

    @classmethod
    def from_config(cls, config):
        return cls(
            base_url=config["SSLCOMMERZ_BASE_URL"],
            store_id=config["SSLCOMMERZ_STORE_ID"],
            store_password=config["SSLCOMMERZ_STORE_PASSWORD"],
            timeout=config["SSLCOMMERZ_TIMEOUT_SECONDS"],
        )

    def __repr__(self):  # never show the password, even in a debugger or a traceback
        return f"SslcommerzClient(base_url={self.base_url!r}, store_id={self.store_id!r})"

    @property
    def configured(self):
        return bool(self.store_id and self._store_password)

    def verify_ipn(self, form):
        return verify_ipn_signature(form, self._store_password)

    # -- HTTP ---------------------------------------------------------------

    def _call(self, method, path, *, params=None, data=None):
        if not self.configured:
            raise GatewayNotConfigured("SSLCommerz store id/password are not configured.")
        credentials = {"store_id": self.store_id, "store_passwd": self._store_password}
        url = self.base_url + path
        try:
            if method == "GET":
                response = requests.get(
                    url, params={**params, **credentials, "format": "json"}, timeout=self.timeout
                )
            else:
                response = requests.post(url, data={**data, **credentials}, timeout=self.timeout)
        except requests.Timeout:
            log.warning("sslcommerz %s %s timed out after %ss", method, path, self.timeout)
            raise GatewayUnavailable("The payment gateway did not answer in time.") from None
        except requests.RequestException as error:
            # str(error) may contain the URL with store_passwd: log the type only.
            log.warning("sslcommerz %s %s failed: %s", method, path, type(error).__name__)
            raise GatewayUnavailable("The payment gateway could not be reached.") from None
        if response.status_code >= 500:
            log.warning("sslcommerz %s %s answered %s", method, path, response.status_code)
            raise GatewayUnavailable(f"The payment gateway answered {response.status_code}.")
        if response.status_code != 200:
            log.warning("sslcommerz %s %s answered %s", method, path, response.status_code)
            raise GatewayRefused(f"The payment gateway answered {response.status_code}.")
        try:
            body = response.json()
        except ValueError:
            raise GatewayUnavailable("The payment gateway answered something unreadable.") from None
        if not isinstance(body, dict):
            raise GatewayUnavailable("The payment gateway answered something unreadable.")
        return body

    # -- API ----------------------------------------------------------------

    def create_session(self, *, tran_id, amount_minor, currency, success_url, fail_url,
                       cancel_url, ipn_url, customer, product_name, product_category):
        """Start a hosted payment page; returns {"sessionkey", "gateway_url"}."""
        body = self._call("POST", SESSION_PATH, data={
            "total_amount": format_minor(amount_minor),
            "currency": currency,
            "tran_id": tran_id,
            "success_url": success_url,
            "fail_url": fail_url,
            "cancel_url": cancel_url,
            "ipn_url": ipn_url,
            "cus_name": customer["name"],
            "cus_email": customer["email"],
            "cus_phone": customer.get("phone") or "N/A",
            "cus_add1": customer.get("address") or "N/A",
            "cus_city": customer.get("city") or "Dhaka",
            "cus_postcode": customer.get("postcode") or "1000",
            "cus_country": customer.get("country") or "Bangladesh",
            "shipping_method": "NO",
            "num_of_item": 1,
            "product_name": product_name,
            "product_category": product_category,
            "product_profile": "non-physical-goods",
        })
        if body.get("status") != "SUCCESS" or not body.get("GatewayPageURL"):
            raise GatewayRefused(
                "The payment gateway refused the session: "
                + str(body.get("failedreason") or "no reason given")[:200]
            )
        return {"sessionkey": body.get("sessionkey"), "gateway_url": body["GatewayPageURL"]}

    def validate(self, val_id):
        """The gateway's own record of a payment (order validation API)."""
        return self._call("GET", VALIDATION_PATH, params={"val_id": val_id})

    def query_transaction(self, tran_id):
        """Every attempt the gateway knows under ``tran_id`` (possibly none)."""
        body = self._call("GET", QUERY_PATH, params={"tran_id": tran_id})
        if body.get("APIConnect") not in (None, "DONE"):
            raise GatewayUnavailable(f"Transaction query refused: {body.get('APIConnect')}.")
        elements = body.get("element") or []
        return [element for element in elements if isinstance(element, dict)]

    def refund(self, *, bank_tran_id, amount_minor, remarks, refe_id):
        """Ask the gateway to refund; returns {"status", "refund_ref_id", "reason"}.

        ``status`` is "success" or "processing" when the gateway accepted it;
        a refusal raises GatewayRefused.
        """
        body = self._call("GET", QUERY_PATH, params={
            "bank_tran_id": bank_tran_id,
            "refund_amount": format_minor(amount_minor),
            "refund_remarks": remarks[:255],
            "refe_id": refe_id,
        })
        status = str(body.get("status") or "").lower()
        if body.get("APIConnect") not in (None, "DONE") or status not in ("success", "processing"):
            raise GatewayRefused(
                "The payment gateway refused the refund: "
                + str(body.get("errorReason") or status or "no reason given")[:200]
            )
        return {"status": status, "refund_ref_id": body.get("refund_ref_id"),
                "reason": body.get("errorReason")}

    def refund_status(self, refund_ref_id):
        """The gateway's status of a refund it accepted: "refunded", "processing",
        "cancelled" (lower-cased as given)."""
        body = self._call("GET", QUERY_PATH, params={"refund_ref_id": refund_ref_id})
        if body.get("APIConnect") not in (None, "DONE"):
            raise GatewayUnavailable(f"Refund query refused: {body.get('APIConnect')}.")
        return str(body.get("status") or "").lower()


def gateway_from_app():
    """The client for the running app's configuration: what every view that talks to
    the gateway (payments, wallet top-ups, reconciliation) hands to its service."""
    return SslcommerzClient.from_config(current_app.config)
