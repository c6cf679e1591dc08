"""What users expect of their data (issue #18 item 6): a copy of everything the platform
holds about them (``my_data``) and closing the account (``close_account``).

Both are built from the owning domains' own functions, so a domain that changes how it
stores a field (the field encryption of issue #18 item 1 decrypts in those readers)
changes it here too; each domain erases its own personal fields.
"""
import secrets

from app.admin.queries import insert_audit_entry
from app.auth import queries
from app.auth.passwords import check_password, hash_password
from app.auth.service import end_sessions
from app.blood import queries as blood_queries
from app.bookings import queries as booking_queries
from app.bookings import service as bookings
from app.db import transaction
from app.errors import Conflict, Unprocessable
from app.mail import queries as mail_queries
from app.payments import queries as payment_queries
from app.timeutil import to_iso
from app.wallet import service as wallet

PAGE = 500  # the readers are paginated; my-data reads every page
DELETED_NAME = "Deleted user"


def deleted_email(user_id):
    """A closed account's address: unique, and in the reserved .invalid domain, so it
    never reaches anybody and the real address can be registered again."""
    return f"deleted-{user_id}@invalid"


def _every_page(read):
    """All rows of a paginated reader ``read(limit, offset) -> rows``."""
    rows, offset = [], 0
    while True:
        page = read(PAGE, offset)
        rows += page
        if len(page) < PAGE:
            return rows
        offset += PAGE


def my_data(conn, actor, *, currency):
    """Everything about ``actor`` (a CurrentUser): profile, bookings with their status
    history and payment, payments with their refunds, wallet and ledger, notifications,
    blood requests (with who volunteered) and volunteering, logins (no token secrets)."""
    own = {"user_id": actor.id}
    booking_rows = _every_page(
        lambda limit, offset: bookings.my_bookings(conn, actor=actor, limit=limit,
                                                   offset=offset)[0])
    payments = _every_page(lambda limit, offset: payment_queries.list_transactions(
        conn, scope=own, status=None, kind=None, limit=limit, offset=offset))
    requests = _every_page(lambda limit, offset: blood_queries.list_own_requests(
        conn, actor.id, None, limit=limit, offset=offset))
    return {
        "profile": queries.get_user(conn, actor.id),
        "bookings": [dict(row, history=booking_queries.list_history(conn, row["id"]))
                     for row in booking_rows],
        "payments": [dict(row, refunds=payment_queries.list_refunds(conn, row["id"]))
                     for row in payments],
        "wallet": wallet.get_wallet(conn, actor.id, currency),
        "ledger": _every_page(lambda limit, offset: wallet.ledger(
            conn, actor.id, limit=limit, offset=offset)[0]),
        "notifications": _every_page(lambda limit, offset: bookings.list_notifications(
            conn, actor=actor, is_read=None, limit=limit, offset=offset)[0]["items"]),
        "blood_requests": [
            dict(row, volunteers=_every_page(lambda limit, offset, rid=row["id"]:
                                             blood_queries.list_matches(
                                                 conn, rid, limit=limit, offset=offset)))
            for row in requests],
        "blood_volunteering": blood_queries.list_donor_matches(conn, actor.id),
        "sessions": queries.list_sessions(conn, actor.id),
    }


def close_account(conn, actor, *, password, ip_address, now, config):
    """Close the caller's account.

    Refused while something is still under way that the account is needed for: a
    pending or approved booking (cancel it first), money in the wallet (spend it or ask
    for it back), a top-up or payment the gateway has not settled, being the last
    active admin, or being the last authority of a hospital. Otherwise, in one
    transaction: the personal fields of the user's bookings and blood requests are
    overwritten (each domain's erase_personal_fields), the name, email and phone are
    anonymised, the password becomes one nobody knows, every login ends, unsent mail
    is dropped and sent mail forgets the address, and the admin audit records it.
    Bookings, payments, refunds, ledger rows and the balance keep their non-personal
    facts, so every money invariant still holds.

    :raise 422: wrong password.
    :raise 409: one of the refusals above.
    """
    user = queries.get_user_with_hash(conn, actor.id)
    if not check_password(password, user["password_hash"]):
        raise Unprocessable(errors={"password": ["Incorrect password."]})
    # a password nobody knows: a real bcrypt hash, so a login attempt costs as long as ever
    unusable = hash_password(secrets.token_urlsafe(32), config["BCRYPT_ROUNDS"])
    stamp = to_iso(now)
    with transaction(conn):
        _refuse_while_in_use(conn, queries.get_user(conn, actor.id), config=config)
        bookings_erased = booking_queries.erase_personal_fields(conn, actor.id)
        requests_erased = blood_queries.erase_personal_fields(conn, actor.id, stamp)
        queries.anonymise_user(conn, actor.id, email=deleted_email(actor.id), name=DELETED_NAME,
                               password_hash=unusable, now=stamp)
        end_sessions(conn, actor.id, now)
        mail_queries.stop_mail_for_user(conn, actor.id, to_address=deleted_email(actor.id),
                                        now=stamp)
        insert_audit_entry(
            conn, actor_id=actor.id, action="account.deleted", target_type="user",
            target_id=actor.id, ip_address=ip_address, now=stamp,
            details={"role": user["role"], "bookingsErased": bookings_erased,
                     "bloodRequestsErased": requests_erased})


def _refuse_while_in_use(conn, user, *, config):
    if booking_queries.count_open_bookings(conn, user["id"]):
        raise Conflict("You have a pending or approved booking; cancel it (or let it "
                       "complete) before closing your account.")
    balance = wallet.get_wallet(conn, user["id"], config["CURRENCY"])["balance_minor"]
    if balance != 0:
        raise Conflict("Your wallet is not empty; spend the balance or ask for it to be "
                       "paid out before closing your account.")
    own = {"user_id": user["id"]}
    for status in ("pending", "processing"):
        if payment_queries.count_transactions(conn, scope=own, status=status, kind=None):
            raise Conflict("A payment or top-up of yours is not settled yet; try again once "
                           "it is.")
    if user["role"] == "admin" and not queries.count_other_active_admins(conn, user["id"]):
        raise Conflict("You are the last active admin; create another admin first.")
    if (user["role"] == "hospital-authority" and user["hospital_id"] is not None
            and len(queries.list_hospital_staff(conn, user["hospital_id"])) <= 1):
        raise Conflict("You are your hospital's only authority; add another one first.")
