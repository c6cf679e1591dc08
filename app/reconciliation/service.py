"""Daily reconciliation: prove the money, ask the gateway about what is unsettled,
record every finding as a discrepancy. It never edits a balance or a ledger.

One run:
1. Gateway: every SSLCommerz payment 'processing' for longer than
   PAYMENT_STALE_MINUTES is looked up by tran_id; a paid one is settled through
   the same verified path as an IPN (validation API, amount/currency/tran_id
   checked), one the gateway never saw or saw fail is failed, anything else is a
   'stuck_processing' discrepancy. Gateway refunds the gateway accepted are
   confirmed (or failed) through its refund query.
2. Wallets: each balance equals the sum of its ledger rows and the last row's
   balance_after; each ledger row continues the previous one (the invariants
   balance_equals_ledger and ledger_rows_chain of app.ops.invariants).
3. Transactions: for every payment, fee + share = amount; exactly one settlement
   row in hospital_earnings equal to that split, and all its earnings rows net to
   amount - refunded; refunds sum to refunded; the ledger shows exactly the
   debit (wallet payment), credit (top-up) and wallet refunds it should, and
   nothing for an unpaid one.
4. Duplicates and leftovers: one bank transaction on two payments, money taken
   by the gateway on an attempt we had failed, gateway refunds refused.
5. Bookings: a booking completed while its payment was still due can never be
   paid any more ('completed_unpaid', entity 'booking'); the hospital's staff or
   an admin write the due off (app/payments/write_offs.py), which closes the
   finding, or resolve it by hand.
6. Audit chains (app.audit.chain): every sealed link verified; the first broken
   row of a chain is an 'audit_chain_broken' discrepancy, and the summary's
   ``auditChain`` holds the result.

Findings go to reconciliation_discrepancies (kind, severity, entity, details
JSON). The partial unique index on open findings makes a re-run add nothing new:
running twice gives the same open discrepancies.
"""
import json
import logging
from collections import Counter
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from app.admin.queries import insert_audit_entry
from app.audit import chain as audit_chain
from app.db import transaction
from app.errors import Conflict, NotFound, Unprocessable
from app.money import format_minor
from app.ops import invariants
from app.payments import queries as payment_queries
from app.payments.queries import PAID_STATUSES
from app.payments.settlement import refresh_processing
from app.payments.sslcommerz import GatewayError
from app.reconciliation import queries
from app.timeutil import local_date, to_iso

log = logging.getLogger(__name__)


def finding(kind, severity, entity_type, entity_id, **details):
    return {"kind": kind, "severity": severity, "entity_type": entity_type,
            "entity_id": entity_id, "details": details}


# -- 1. the gateway ----------------------------------------------------------------


def settle_with_gateway(conn, *, now, config, gateway):
    """Returns (counts, findings)."""
    counts, findings = Counter(), []
    older_than = to_iso(now - timedelta(minutes=float(config["PAYMENT_STALE_MINUTES"])))
    for tx in payment_queries.list_stale_processing(conn, older_than):
        outcome = refresh_processing(conn, tx, now=now, config=config, gateway=gateway)
        counts[f"processing_{outcome}"] += 1
        if outcome in ("pending", "unreachable"):
            findings.append(finding(
                "stuck_processing", "medium", "transaction", tx["id"],
                transactionRef=tx["transaction_ref"], amount=format_minor(tx["amount_minor"]),
                since=tx["updated_at"], gateway=outcome,
            ))
        elif outcome == "mismatch":
            findings.append(finding(
                "gateway_mismatch", "critical", "transaction", tx["id"],
                transactionRef=tx["transaction_ref"], amount=format_minor(tx["amount_minor"]),
                problem="the gateway's record of this payment does not match ours",
            ))
    for refund in payment_queries.list_open_gateway_refunds(conn, older_than):
        counts[f"refund_{confirm_refund(conn, refund, now=now, gateway=gateway)}"] += 1
        current = payment_queries.get_refund(conn, refund["id"])
        if current["status"] == "pending":
            findings.append(finding(
                "gateway_refund_unconfirmed", "medium", "refund", refund["id"],
                transactionId=refund["transaction_id"], amount=format_minor(refund["amount_minor"]),
                problem="the gateway never confirmed receiving this refund request; check "
                        "the merchant panel before sending it again",
            ))
    return counts, findings


def confirm_refund(conn, refund, *, now, gateway):
    if refund["status"] != "processing" or not refund["gateway_refund_ref"]:
        return "unconfirmed"
    try:
        status = gateway.refund_status(refund["gateway_refund_ref"])
    except GatewayError:
        return "unreachable"
    new_status = {"refunded": "completed", "cancelled": "failed", "failed": "failed"}.get(status)
    if new_status is None:
        return "processing"
    with transaction(conn):
        payment_queries.update_refund(conn, refund["id"], from_statuses=("processing",),
                                      status=new_status, gateway_refund_ref=None,
                                      now=to_iso(now))
    return new_status


# -- 2. wallets --------------------------------------------------------------------


def check_wallets(conn):
    findings = []
    for row in invariants.offending_rows(conn, "balance_equals_ledger"):
        findings.append(finding(
            "wallet_balance_mismatch", "critical", "wallet", row["user_id"],
            balance=format_minor(row["balance_minor"]),
            ledgerSum=format_minor(row["ledger_sum_minor"]),
            lastBalanceAfter=format_minor(row["last_balance_after_minor"]),
        ))
    for row in invariants.offending_rows(conn, "ledger_rows_chain"):
        findings.append(finding(
            "ledger_chain_broken", "critical", "ledger_entry", row["id"],
            userId=row["user_id"], balanceBefore=format_minor(row["balance_before_minor"]),
            previousBalanceAfter=format_minor(row["previous_after_minor"]),
        ))
    return findings


# -- 3. transactions ---------------------------------------------------------------


def transaction_problems(row):
    """{kind: (severity, [problem, ...])} for one transaction's postings."""
    problems = {}

    def problem(kind, severity, text):
        problems.setdefault(kind, (severity, []))[1].append(text)

    paid = row["status"] in PAID_STATUSES
    amount, refunded = row["amount_minor"], row["refunded_minor"]
    wallet_paid = paid and row["kind"] == "booking_payment" and row["method"] == "wallet"
    expected_debit = amount if wallet_paid else 0
    expected_credit = amount if paid and row["kind"] == "wallet_topup" else 0
    if row["debited_minor"] != expected_debit or row["foreign_postings"]:
        problem("ledger_mismatch", "critical",
                f"ledger debits {format_minor(row['debited_minor'])}, expected "
                f"{format_minor(expected_debit)}")
    if row["credited_minor"] != expected_credit:
        problem("ledger_mismatch", "critical",
                f"ledger credits {format_minor(row['credited_minor'])}, expected "
                f"{format_minor(expected_credit)}")
    if row["wallet_refunded_minor"] != (row["wallet_refunds_minor"] if wallet_paid else 0):
        problem("ledger_mismatch", "critical",
                f"ledger refunds {format_minor(row['wallet_refunded_minor'])}, wallet refunds "
                f"{format_minor(row['wallet_refunds_minor'])}")
    if row["refunds_minor"] != refunded:
        problem("refund_total_mismatch", "high",
                f"refunds sum to {format_minor(row['refunds_minor'])}, payment says "
                f"{format_minor(refunded)}")
    if row["kind"] == "booking_payment" and paid:
        fee, share = row["platform_fee_minor"], row["hospital_share_minor"]
        if fee is None or share is None or fee + share != amount:
            problem("split_mismatch", "critical", "platform fee + hospital share != amount")
        if (row["settlements"] != 1 or row["settled_fee_minor"] != fee
                or row["settled_share_minor"] != share):
            problem("earnings_mismatch", "high",
                    f"{row['settlements']} settlement row(s) that do not match the split")
        if row["earnings_net_minor"] != amount - refunded:
            problem("earnings_mismatch", "high",
                    f"earnings net {format_minor(row['earnings_net_minor'])}, expected "
                    f"{format_minor(amount - refunded)}")
        if row["foreign_earnings"]:
            problem("earnings_mismatch", "high", "earnings booked to another hospital")
    elif row["settlements"] or row["earnings_net_minor"]:
        problem("earnings_without_payment", "high", "earnings recorded for an unpaid transaction")
    return problems


def check_transactions(conn):
    findings, checked = [], 0
    for row in queries.transaction_postings(conn):
        checked += 1
        for kind, (severity, texts) in transaction_problems(row).items():
            findings.append(finding(
                kind, severity, "transaction", row["id"], status=row["status"],
                amount=format_minor(row["amount_minor"]), problems=texts,
            ))
    return checked, findings


# -- 4. duplicates and leftovers ------------------------------------------------------


def check_leftovers(conn):
    findings = []
    for row in queries.duplicate_gateway_payments(conn):
        ids = sorted(int(i) for i in row["transaction_ids"].split(","))
        findings.append(finding(
            "duplicate_gateway_payment", "critical", "transaction", ids[0],
            bankTranId=row["gateway_bank_tran_id"], transactionIds=ids,
        ))
    for row in queries.paid_after_failure(conn):
        findings.append(finding(
            "paid_after_failure", "high", "transaction", row["id"],
            transactionRef=row["transaction_ref"], amount=format_minor(row["amount_minor"]),
            bankTranId=row["gateway_bank_tran_id"],
            problem="the gateway took this payment after we had failed the attempt; "
                    "refund it at the gateway",
        ))
    for row in queries.failed_gateway_refunds(conn):
        findings.append(finding(
            "gateway_refund_failed", "high", "refund", row["id"],
            transactionId=row["transaction_id"], amount=format_minor(row["amount_minor"]),
            problem="the gateway refused this refund; the customer is still owed it",
        ))
    return findings


# -- 5. bookings completed but never paid -------------------------------------------

COMPLETED_UNPAID = "completed_unpaid"


def check_bookings(conn):
    return [
        finding(
            COMPLETED_UNPAID, "medium", "booking", row["id"],
            bookingReference=row["booking_reference"], hospitalId=row["hospital_id"],
            amount=format_minor(row["amount_minor"]), currency=row["currency"],
            completedAt=row["completed_at"],
            problem="completed while its payment was due and never paid; collect it "
                    "outside the platform or write it off (POST /api/bookings/{id}/write-off)",
        )
        for row in queries.completed_unpaid_bookings(conn)
    ]


# -- the run -----------------------------------------------------------------------


def day_bounds(run_date, tz_name):
    zone = ZoneInfo(tz_name)
    start = datetime.combine(run_date, time.min, tzinfo=zone)
    end = datetime.combine(run_date + timedelta(days=1), time.min, tzinfo=zone)
    return to_iso(start), to_iso(end)


def run(conn, *, run_date, triggered_by, now, config, gateway):
    """One reconciliation run for ``run_date``; returns the finished run row."""
    with transaction(conn):
        run_row = queries.insert_run(conn, run_date=run_date.isoformat(),
                                     triggered_by=triggered_by, now=to_iso(now))
    try:
        counts, findings = settle_with_gateway(conn, now=now, config=config, gateway=gateway)
        findings += check_wallets(conn)
        checked, transaction_findings = check_transactions(conn)
        findings += transaction_findings
        findings += check_leftovers(conn)
        findings += check_bookings(conn)
        audit = audit_chain.verify(conn)
        findings += [finding("audit_chain_broken", "critical", item["table"], item["rowId"],
                             problem=item["message"]) for item in audit["broken"]]
        totals = queries.day_totals(conn, *day_bounds(run_date, config["TIMEZONE"]))
        with transaction(conn):
            new = 0
            for item in findings:
                new += queries.insert_discrepancy(
                    conn, run_id=run_row["id"], kind=item["kind"], severity=item["severity"],
                    entity_type=item["entity_type"], entity_id=item["entity_id"],
                    details=json.dumps(item["details"]), now=to_iso(now),
                ) is not None
            summary = {
                "date": run_date.isoformat(),
                "checked": {"wallets": queries.count_wallets(conn), "transactions": checked},
                "gateway": dict(sorted(counts.items())),
                "discrepancies": {
                    "found": len(findings), "new": new,
                    "kinds": dict(sorted(Counter(f["kind"] for f in findings).items())),
                },
                "auditChain": {key: audit[key]
                               for key in ("ok", "linksChecked", "unsealed", "problems")},
                "day": {
                    "payments": totals["payments"],
                    "paymentsAmount": format_minor(totals["payments_minor"]),
                    "topups": totals["topups"],
                    "topupsAmount": format_minor(totals["topups_minor"]),
                    "refunds": totals["refunds"],
                    "refundsAmount": format_minor(totals["refunds_minor"]),
                },
            }
            run_row = queries.finish_run(conn, run_row["id"], status="completed",
                                         summary=json.dumps(summary), now=to_iso(now))
    except Exception as error:
        log.exception("reconciliation run %s failed", run_row["id"])
        with transaction(conn):
            queries.finish_run(conn, run_row["id"], status="failed",
                               summary=json.dumps({"error": type(error).__name__}),
                               now=to_iso(now))
        raise
    return run_row


def summary_line(run_row):
    summary = json.loads(run_row["summary"])
    found = summary["discrepancies"]
    settled = sum(v for k, v in summary["gateway"].items()
                  if k in ("processing_completed", "processing_failed"))
    return (f"reconciled {summary['date']}: {summary['checked']['wallets']} wallets, "
            f"{summary['checked']['transactions']} transactions, {settled} gateway payments "
            f"settled or failed, {found['found']} discrepancies ({found['new']} new)")


def trigger(conn, *, run_date, admin_id, now, config, gateway):
    """:raise 422: a date in the future."""
    today = local_date(now, config["TIMEZONE"])
    if run_date is None:
        run_date = today
    if run_date > today or run_date < date(2000, 1, 1):
        raise Unprocessable(errors={"json": {"date": ["Must be a past day or today."]}})
    return run(conn, run_date=run_date, triggered_by=admin_id, now=now, config=config,
               gateway=gateway)


def history(conn, *, limit, offset):
    return queries.list_runs(conn, limit, offset), queries.count_runs(conn)


def discrepancies(conn, *, status, severity, limit, offset):
    status = None if status == "all" else status
    return (queries.list_discrepancies(conn, status=status, severity=severity, limit=limit,
                                       offset=offset),
            queries.count_discrepancies(conn, status=status, severity=severity))


def resolve(conn, *, discrepancy_id, admin_id, notes, now, ip_address=None):
    """Audited (``discrepancy.resolve``) in the same transaction.

    :raise 404: no such discrepancy. :raise 409: already resolved."""
    with transaction(conn):
        resolved = queries.resolve_discrepancy(conn, discrepancy_id, resolved_by=admin_id,
                                               notes=notes, now=to_iso(now))
        if resolved is None:
            if queries.get_discrepancy(conn, discrepancy_id) is None:
                raise NotFound("Discrepancy not found.")
            raise Conflict("This discrepancy is already resolved.")
        insert_audit_entry(
            conn, actor_id=admin_id, action="discrepancy.resolve",
            target_type="reconciliation_discrepancy", target_id=discrepancy_id,
            ip_address=ip_address, now=to_iso(now),
            details={"kind": resolved["kind"], "entity_type": resolved["entity_type"],
                     "entity_id": resolved["entity_id"], "notes": notes},
        )
    return resolved
