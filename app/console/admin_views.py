"""Admin pages: hospitals to review, users, reconciliation, wallet adjustments, health.

Reinstating a suspended hospital, the staff list and the admin audit log come with
their own issue; their places are marked in the templates, with no stand-in."""
import marshmallow as ma
from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.admin import service as admin_service
from app.admin.schemas import UserListQueryArgsSchema, UserStatusSchema
from app.console import bp, forms
from app.console import idempotency as once
from app.console.access import admin_page
from app.db import get_db
from app.errors import Unprocessable
from app.hospitals import service as hospitals_service
from app.hospitals.schemas import HospitalStatusQueryArgsSchema, RequiredReasonSchema
from app.money import format_minor
from app.ops import service as ops_service
from app.reconciliation import service as reconciliation_service
from app.reconciliation.schemas import ResolveSchema
from app.timeutil import utcnow
from app.validation import Schema, id_field
from app.vocabulary import HOSPITAL_STATUSES, USER_STATUSES
from app.wallet import service as wallet_service
from app.wallet.schemas import AdjustSchema

PAGE_SIZE = 50


class WalletOwnerSchema(Schema):
    """The user whose wallet is adjusted (in the API, the path's ``userId``)."""

    user_id = id_field(required=True)


def _query(schema):
    """The query string through the API's own query schema; unknown keys are ignored,
    as the API ignores them. :raise 422: a value the API would refuse."""
    known = {field.data_key or name for name, field in schema.fields.items()}
    try:
        return schema.load({key: value for key, value in request.args.items() if key in known})
    except ma.ValidationError as error:
        raise Unprocessable("Invalid filter.", errors=error.messages) from None


# --- hospitals ----------------------------------------------------------------------

@bp.get("/admin/hospitals")
@admin_page
def admin_hospitals():
    status = _query(HospitalStatusQueryArgsSchema()).get("status", "pending")
    hospitals, total = hospitals_service.list_for_review(get_db(), status=status, limit=PAGE_SIZE,
                                                         offset=0)
    return render_template("console/admin/hospitals.html", hospitals=hospitals, total=total,
                           status=status, statuses=HOSPITAL_STATUSES, page_size=PAGE_SIZE)


@bp.post("/admin/hospitals/<int:hospital_id>/<any(approve, reject, suspend):action>")
@admin_page
def admin_hospital_review(hospital_id, action):
    def run():
        reason = None
        if action != "approve":
            reason = forms.load(RequiredReasonSchema(), request.form, texts=("reason",))["reason"]
        return hospitals_service.review(
            get_db(), hospital_id, action, admin_id=current_user.id, reason=reason,
            ip_address=request.remote_addr, now=utcnow(),
        )

    hospital = forms.attempt(run)
    if hospital is not None:
        flash(f"{hospital['name']} is now {hospital['status']}.", "ok")
    back = request.form.get("return_status")  # the list the form was on
    return redirect(url_for("console.admin_hospitals",
                            status=back if back in HOSPITAL_STATUSES else None))


# --- users ------------------------------------------------------------------------------

@bp.get("/admin/users")
@admin_page
def admin_users():
    filters = _query(UserListQueryArgsSchema())
    users, total = admin_service.list_users(
        get_db(), role=filters.get("role"), status=filters.get("status"),
        hospital_id=filters.get("hospital_id"), limit=PAGE_SIZE, offset=0,
    )
    return render_template("console/admin/users.html", users=users, total=total,
                           filters=filters, statuses=USER_STATUSES, page_size=PAGE_SIZE)


@bp.post("/admin/users/<int:user_id>/status")
@admin_page
def admin_user_status(user_id):
    def run():
        data = forms.load(UserStatusSchema(), request.form, texts=("status", "reason"))
        return admin_service.set_user_status(
            get_db(), user_id, data["status"], admin_id=current_user.id,
            reason=data.get("reason"), ip_address=request.remote_addr, now=utcnow(),
        )

    user = forms.attempt(run)
    if user is not None:
        flash(f"{user['email']} is now {user['status']}.", "ok")
    return redirect(url_for("console.admin_users"))


# --- reconciliation ---------------------------------------------------------------------

@bp.get("/admin/reconciliation")
@admin_page
def admin_reconciliation():
    conn = get_db()
    runs, runs_total = reconciliation_service.history(conn, limit=20, offset=0)
    for run in runs:
        run["summary_text"] = (reconciliation_service.summary_line(run)
                               if run["status"] == "completed" and run["summary"] else None)
    discrepancies, open_total = reconciliation_service.discrepancies(
        conn, status="open", severity=None, limit=PAGE_SIZE, offset=0
    )
    return render_template("console/admin/reconciliation.html", runs=runs, runs_total=runs_total,
                           discrepancies=discrepancies, open_total=open_total)


@bp.post("/admin/discrepancies/<int:discrepancy_id>/resolve")
@admin_page
def admin_resolve(discrepancy_id):
    def run():
        notes = forms.load(ResolveSchema(), request.form, texts=("notes",))["notes"]
        return reconciliation_service.resolve(get_db(), discrepancy_id=discrepancy_id,
                                              admin_id=current_user.id, notes=notes, now=utcnow())

    if forms.attempt(run) is not None:
        flash(f"Discrepancy {discrepancy_id} resolved.", "ok")
    return redirect(url_for("console.admin_reconciliation"))


# --- wallet adjustments -----------------------------------------------------------------

@bp.get("/admin/wallets")
@admin_page
def admin_wallets():
    return render_template("console/admin/wallets.html", idempotency_key=once.new_key())


@bp.post("/admin/wallets/adjust")
@admin_page
def admin_wallet_adjust():
    key = once.form_key(request.form)

    def run():
        user_id = forms.load(WalletOwnerSchema(), request.form, whole_numbers=("userId",))["user_id"]
        data = forms.load(AdjustSchema(), request.form, texts=("amount", "reason"))
        body = {"userId": user_id, "amount": format_minor(data["amount"]), "reason": data["reason"]}

        def adjust(claim):
            result = wallet_service.adjust(
                get_db(), admin_id=current_user.id, user_id=user_id, amount_minor=data["amount"],
                reason=data["reason"], ip_address=request.remote_addr, now=utcnow(),
                currency=current_app.config["CURRENCY"], claim=claim,
            )
            return {**body, "balance": format_minor(result["balance_minor"]),
                    "currency": result["currency"], "entryId": result["entry"]["id"]}

        return once.run_once(get_db(), user_id=current_user.id, key=key, request_body=body,
                             action=adjust, now=utcnow())

    outcome = forms.attempt(run)
    if outcome is not None:
        status, summary, replayed = outcome
        again = " (this form was already sent: nothing was done twice)" if replayed else ""
        if status == 200:
            flash(f"User {summary['userId']}: {summary['amount']} {summary['currency']} adjusted; "
                  f"balance now {summary['balance']} (ledger entry {summary['entryId']}){again}.",
                  "ok")
        else:
            flash(f"{summary.get('message', 'Refused.')}{again}", "error")
    return redirect(url_for("console.admin_wallets"))


# --- health -----------------------------------------------------------------------------

@bp.get("/admin/health")
@admin_page
def admin_health():
    health = ops_service.detailed_health(get_db(), current_app.config, now=utcnow())
    return render_template("console/admin/health.html", health=health)
