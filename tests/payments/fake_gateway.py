"""A stand-in SSLCommerz over real HTTP (pytest-httpserver), speaking its documented v4 protocol.

Endpoints: session (POST /gwprocess/v4/api.php), order validation (GET
/validator/api/validationserverAPI.php), transaction query, refund and refund
query (GET /validator/api/merchantTransIDvalidationAPI.php). The "customer"
side is ``pay`` / ``fail``: they record what the gateway would, and return the
IPN form the gateway would POST, signed the way SSLCommerz signs it. The
signature code here is written independently of app.payments.sslcommerz on
purpose: a mistake there must not be mirrored here.

Failure switches: ``gateway.mode[endpoint] = "500" | "slow" | "refuse" | "garbage" | "hold"``
with endpoint one of "session", "validate", "query", "refund", "refund_status".
"hold" does the work (a refund is made) and then keeps the answer back until the
test calls ``gateway.release(endpoint)``: the caller can be killed while it waits,
so the gateway has acted and nobody learned of it. ``gateway.arrived(endpoint)``
waits for such a request.

Refunds: a refund request that repeats the merchant's reference (``refe_id``) for
the same payment is the same refund, not a new one. The stand-in answers it as it
answered the first time (same ``refund_ref_id``) and refunds nothing more; with a
different amount it refuses. The application sends RF<refund id> as the reference
of every refund and relies on exactly this when it sends a refund again.
"""
import hashlib
import itertools
import json
import secrets
import threading
import time
from decimal import Decimal

from werkzeug import Response

STORE_ID = "rapidcaretest"
STORE_PASSWORD = "rapidcare-test-store-password"

_ids = itertools.count(1)


def md5(text):
    return hashlib.md5(text.encode()).hexdigest()


def sign(fields, store_password=STORE_PASSWORD):
    """Add verify_sign/verify_key as SSLCommerz does: md5 of the sorted k=v pairs of the
    listed fields plus store_passwd=md5(password)."""
    keys = list(fields)
    to_hash = {**{k: fields[k] for k in keys}, "store_passwd": md5(store_password)}
    hash_string = "&".join(f"{k}={to_hash[k]}" for k in sorted(to_hash))
    return {**fields, "verify_sign": md5(hash_string), "verify_key": ",".join(keys)}


def _json(body, status=200):
    return Response(json.dumps(body), status=status, content_type="application/json")


class FakeSslcommerz:
    # A "slow" answer comes well after our timeout; a normal one must never hit it, even
    # on a machine whose 2 cores are busy with the rest of the suite.
    def __init__(self, server, *, slow_seconds=4.0):
        self.server = server
        self.slow_seconds = slow_seconds
        self.lock = threading.Lock()
        self.sessions = {}       # tran_id -> what the merchant asked for
        self.attempts = {}       # tran_id -> [records], what the query API reports
        self.payments = {}       # val_id -> validation record
        self.refunds = {}        # refund_ref_id -> refund record
        self.mode = {}
        self.calls = []          # (endpoint, params without the password)
        self._arrived = {}       # endpoint -> Event: a held request has arrived
        self._released = {}      # endpoint -> Event: let held requests answer
        server.expect_request("/gwprocess/v4/api.php", method="POST") \
            .respond_with_handler(self._session)
        server.expect_request("/validator/api/validationserverAPI.php", method="GET") \
            .respond_with_handler(self._validate)
        server.expect_request("/validator/api/merchantTransIDvalidationAPI.php", method="GET") \
            .respond_with_handler(self._merchant_api)

    @property
    def base_url(self):
        return self.server.url_for("").rstrip("/")

    def config(self, **overrides):
        return {
            "SSLCOMMERZ_BASE_URL": self.base_url,
            "SSLCOMMERZ_STORE_ID": STORE_ID,
            "SSLCOMMERZ_STORE_PASSWORD": STORE_PASSWORD,
            "SSLCOMMERZ_TIMEOUT_SECONDS": 2.5,
            **overrides,
        }

    def calls_to(self, endpoint):
        return [params for name, params in self.calls if name == endpoint]

    def _hold_events(self, endpoint):
        with self.lock:
            return (self._arrived.setdefault(endpoint, threading.Event()),
                    self._released.setdefault(endpoint, threading.Event()))

    def arrived(self, endpoint, timeout=30):
        """Wait until a request to ``endpoint`` in "hold" mode has done its work."""
        return self._hold_events(endpoint)[0].wait(timeout)

    def release(self, endpoint):
        """Let held requests to ``endpoint`` answer (to whoever is still listening)."""
        self._hold_events(endpoint)[1].set()

    def _hold(self, endpoint, response):
        if self.mode.get(endpoint) == "hold":
            arrived, released = self._hold_events(endpoint)
            arrived.set()
            released.wait(60)  # bounded: a test that forgets to release still ends
        return response

    # -- the gateway's behaviour --------------------------------------------------

    def _misbehave(self, endpoint):
        mode = self.mode.get(endpoint)
        if mode == "500":
            return Response("internal error", status=500)
        if mode == "slow":
            time.sleep(self.slow_seconds)
            return None
        if mode == "garbage":
            return Response("<html>maintenance</html>", status=200, content_type="text/html")
        return None

    def _record(self, endpoint, params):
        with self.lock:
            self.calls.append((endpoint, {k: v for k, v in params.items() if k != "store_passwd"}))

    def _authorised(self, params):
        return params.get("store_id") == STORE_ID and params.get("store_passwd") == STORE_PASSWORD

    def _session(self, request):
        form = request.form.to_dict()
        self._record("session", form)
        bad = self._misbehave("session")
        if bad:
            return bad
        if not self._authorised(form):
            return _json({"status": "FAILED",
                          "failedreason": "Store Credential Error Or Store is De-active"})
        if self.mode.get("session") == "refuse":
            return _json({"status": "FAILED", "failedreason": "Invalid Information"})
        required = ("total_amount", "currency", "tran_id", "success_url", "fail_url", "cancel_url",
                    "cus_name", "cus_email", "cus_phone", "cus_add1", "cus_city", "cus_country",
                    "shipping_method", "product_name", "product_category", "product_profile")
        missing = [field for field in required if not form.get(field)]
        if missing:
            return _json({"status": "FAILED", "failedreason": f"Missing {', '.join(missing)}"})
        Decimal(form["total_amount"])  # a malformed amount is a bug in the client: crash loudly
        sessionkey = secrets.token_hex(16).upper()
        with self.lock:
            self.sessions[form["tran_id"]] = {**form, "sessionkey": sessionkey}
        return _json({
            "status": "SUCCESS", "failedreason": "", "sessionkey": sessionkey,
            "GatewayPageURL": f"{self.base_url}/EasyCheckOut/{sessionkey}",
            "storeBanner": "", "storeLogo": "", "desc": [],
        })

    def _validate(self, request):
        args = request.args.to_dict()
        self._record("validate", args)
        bad = self._misbehave("validate")
        if bad:
            return bad
        if not self._authorised(args):
            return _json({"status": "INVALID_TRANSACTION", "APIConnect": "INVALID_REQUEST"})
        with self.lock:
            record = self.payments.get(args.get("val_id", ""))
            if record is None:
                return _json({"status": "INVALID_TRANSACTION", "APIConnect": "DONE"})
            answer = dict(record)
            record["status"] = "VALIDATED"  # SSLCommerz: VALID the first time, then VALIDATED
        return _json({**answer, "APIConnect": "DONE"})

    def _merchant_api(self, request):
        args = request.args.to_dict()
        if "refund_amount" in args:
            return self._refund(args)
        if "refund_ref_id" in args:
            return self._refund_status(args)
        self._record("query", args)
        bad = self._misbehave("query")
        if bad:
            return bad
        if not self._authorised(args):
            return _json({"APIConnect": "INVALID_REQUEST"})
        with self.lock:
            elements = [dict(e) for e in self.attempts.get(args.get("tran_id", ""), [])]
        return _json({"APIConnect": "DONE", "no_of_trans_found": len(elements),
                      "element": elements})

    def _refund(self, args):
        self._record("refund", args)
        bad = self._misbehave("refund")
        if bad:
            return bad
        if not self._authorised(args):
            return _json({"APIConnect": "INVALID_REQUEST"})
        if self.mode.get("refund") == "refuse":
            return _json({"APIConnect": "DONE", "status": "failed",
                          "errorReason": "Refund not allowed"})
        with self.lock:
            paid = [p for p in self.payments.values()
                    if p["bank_tran_id"] == args.get("bank_tran_id")]
            if not paid:
                return _json({"APIConnect": "DONE", "status": "failed",
                              "errorReason": "Invalid bank_tran_id"})
            payment = paid[0]
            amount = Decimal(args["refund_amount"])
            same = [(ref, r) for ref, r in self.refunds.items()
                    if args.get("refe_id") and r["refe_id"] == args["refe_id"]
                    and r["bank_tran_id"] == payment["bank_tran_id"]]
            if same:
                ref, earlier = same[0]
                if Decimal(earlier["amount"]) != amount:
                    return _json({"APIConnect": "DONE", "status": "failed",
                                  "errorReason": "refe_id already used for another amount"})
            else:
                already = sum(Decimal(r["amount"]) for r in self.refunds.values()
                              if r["bank_tran_id"] == payment["bank_tran_id"])
                if amount <= 0 or already + amount > Decimal(payment["amount"]):
                    return _json({"APIConnect": "DONE", "status": "failed",
                                  "errorReason": "Refund amount exceeds the paid amount"})
                ref = f"RFND{next(_ids):08d}"
                self.refunds[ref] = {"bank_tran_id": payment["bank_tran_id"],
                                     "amount": str(amount), "refe_id": args.get("refe_id"),
                                     "status": "processing"}
        return self._hold("refund", _json({
            "APIConnect": "DONE", "bank_tran_id": payment["bank_tran_id"],
            "trans_id": payment["tran_id"], "refund_ref_id": ref, "status": "success",
            "errorReason": ""}))

    def _refund_status(self, args):
        self._record("refund_status", args)
        bad = self._misbehave("refund_status")
        if bad:
            return bad
        with self.lock:
            refund = self.refunds.get(args.get("refund_ref_id", ""))
        if refund is None:
            return _json({"APIConnect": "DONE", "status": "failed", "errorReason": "not found"})
        return _json({"APIConnect": "DONE", "refund_ref_id": args["refund_ref_id"],
                      "bank_tran_id": refund["bank_tran_id"], "status": refund["status"]})

    # -- the customer's side ----------------------------------------------------------

    def session_for(self, tran_id):
        return self.sessions[tran_id]

    def pay(self, tran_id, *, amount=None, currency=None, ipn=None):
        """The customer pays on the hosted page; returns the signed IPN form.

        ``amount``/``currency`` change what was paid (the gateway's record and the
        IPN alike); ``ipn`` changes only the IPN's own, still signed, fields."""
        session = self.sessions[tran_id]
        n = next(_ids)
        record = {
            "status": "VALID",
            "tran_date": "2025-01-01 10:00:00",
            "tran_id": tran_id,
            "val_id": f"VAL{n:010d}",
            "amount": amount or session["total_amount"],
            "store_amount": amount or session["total_amount"],
            "currency": currency or session["currency"],
            "bank_tran_id": f"BANK{n:010d}",
            "card_type": "VISA-Dutch Bangla",
            "card_no": "418117XXXXXX6675",
            "card_issuer": "TEST BANK",
            "card_brand": "VISA",
            "card_issuer_country": "Bangladesh",
            "card_issuer_country_code": "BD",
            "currency_type": currency or session["currency"],
            "currency_amount": amount or session["total_amount"],
            "risk_level": "0",
            "risk_title": "Safe",
        }
        with self.lock:
            self.payments[record["val_id"]] = dict(record)
            self.attempts.setdefault(tran_id, []).append(dict(record))
        return sign({**record, "store_id": STORE_ID, **(ipn or {})})

    def fail(self, tran_id, status="FAILED", *, ipn=None):
        """The customer's card is declined (or they cancel); returns the signed IPN form
        (``ipn`` changes its signed fields)."""
        session = self.sessions[tran_id]
        record = {
            "status": status, "tran_date": "2025-01-01 10:00:00", "tran_id": tran_id,
            "amount": session["total_amount"], "currency": session["currency"],
            "error": "Declined by the issuer" if status == "FAILED" else "Cancelled by user",
            "bank_tran_id": "",
        }
        with self.lock:
            self.attempts.setdefault(tran_id, []).append(dict(record))
        return sign({**record, "store_id": STORE_ID, **(ipn or {})})
