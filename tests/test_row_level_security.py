"""Row-level security (migration 0090): deliberately unscoped queries, run as each
role on the service's own role, see only that role's rows; the service's role
cannot switch the policies off."""
import psycopg
import pytest

from app.db import postgres, set_actor, transaction
from app.timeutil import to_iso, utcnow

pytestmark = pytest.mark.postgres_only

ROLES = ["patient", "other_patient", "authority", "other_authority", "admin", "anonymous"]


@pytest.fixture
def rows(world, make, db):
    """One of everything on both sides: the patient's at the first hospital, the other
    patient's at the second. Returns {label: id} per table, the labels the tests expect."""
    now = to_iso(utcnow())
    patient, other = world.patient, world.other_patient
    booking = make.booking(patient, world.hospital, status="approved")
    other_booking = make.booking(other, world.other_hospital, status="approved")
    with transaction(db):
        def insert(sql, params):
            return db.execute(sql + " RETURNING id", params).fetchone()["id"]

        def payment(user, booking, amount):
            return insert(
                """
                INSERT INTO transactions (transaction_ref, kind, booking_id, user_id, hospital_id,
                    amount_minor, method, status, platform_fee_minor, hospital_share_minor,
                    created_at, updated_at, completed_at)
                VALUES (?, 'booking_payment', ?, ?, ?, ?, 'wallet', 'completed', 0, ?, ?, ?, ?)
                """,
                (f"TX-{booking['id']}", booking["id"], user["id"], booking["hospital_id"],
                 amount, amount, now, now, now))

        tx = payment(patient, booking, 1000)
        other_tx = payment(other, other_booking, 2000)
        topup = insert(
            """
            INSERT INTO transactions (transaction_ref, kind, user_id, amount_minor, method,
                                      status, created_at, updated_at, completed_at)
            VALUES ('TOPUP-1', 'wallet_topup', ?, 5000, 'sslcommerz', 'completed', ?, ?, ?)
            """, (patient["id"], now, now, now))
        for user in (patient, other):
            db.execute("INSERT INTO user_balance (user_id, balance_minor, updated_at) VALUES (?, 5000, ?)",
                       (user["id"], now))
        ledger = insert(
            """
            INSERT INTO balance_transactions (user_id, transaction_id, type, amount_minor,
                balance_before_minor, balance_after_minor, description, created_at)
            VALUES (?, ?, 'credit', 5000, 0, 5000, 'top-up', ?)
            """, (patient["id"], topup, now))
        other_ledger = insert(
            """
            INSERT INTO balance_transactions (user_id, type, amount_minor,
                balance_before_minor, balance_after_minor, description, created_at)
            VALUES (?, 'credit', 5000, 0, 5000, 'adjustment', ?)
            """, (other["id"], now))

        def earnings(hospital_id, tx_id):
            return insert(
                """
                INSERT INTO hospital_earnings (hospital_id, transaction_id, share_minor, fee_minor,
                                               description, created_at)
                VALUES (?, ?, 100, 0, 'share', ?)
                """, (hospital_id, tx_id, now))

        def refund(tx_id, user):
            return insert(
                """
                INSERT INTO refunds (transaction_id, amount_minor, reason, method, requested_by, created_at)
                VALUES (?, 10, 'partial', 'wallet', ?, ?)
                """, (tx_id, user["id"], now))

        def audit(hospital, booking_id):
            return insert(
                """
                INSERT INTO resource_audit_log (hospital_id, resource_type, action, booking_id,
                                                created_at)
                VALUES (?, 'beds', 'allocate', ?, ?)
                """, (hospital["id"], booking_id, now))

        def claim(user):
            return insert(
                """
                INSERT INTO idempotency_keys (user_id, endpoint, idempotency_key,
                                              request_fingerprint, created_at, expires_at)
                VALUES (?, 'payments.process', 'k', 'f', ?, ?)
                """, (user["id"], now, now))

        blood = insert(
            """
            INSERT INTO blood_requests (requester_id, patient_name, blood_type, units_needed,
                hospital_id, contact_phone, location, created_at, updated_at, record_key)
            VALUES (?, 'P', 'O+', 1, ?, '+8801700000000', 'Dhaka', ?, ?, 'rls-test-request')
            """, (patient["id"], world.hospital["id"], now, now))
        admin_audit = insert(
            """
            INSERT INTO admin_audit_log (actor_id, action, target_type, target_id, created_at)
            VALUES (?, 'user.status', 'user', ?, ?)
            """, (world.admin["id"], other["id"], now))
        result = {
            "bookings": {"patient": booking["id"], "other_patient": other_booking["id"]},
            "transactions": {"patient": tx, "other_patient": other_tx, "topup": topup},
            "user_balance": {"patient": patient["id"], "other_patient": other["id"]},
            "balance_transactions": {"patient": ledger, "other_patient": other_ledger},
            "hospital_earnings": {"hospital": earnings(world.hospital["id"], tx),
                                  "other_hospital": earnings(world.other_hospital["id"], other_tx)},
            "refunds": {"patient": refund(tx, world.authority),
                        "other_patient": refund(other_tx, world.other_authority)},
            "resource_audit_log": {"hospital": audit(world.hospital, booking["id"]),
                                   "other_hospital": audit(world.other_hospital, other_booking["id"])},
            "idempotency_keys": {"patient": claim(patient), "other_patient": claim(other)},
            "blood_requests": {"patient": blood},
            "admin_audit_log": {"admin": admin_audit},
        }
    return result


def _connect_as(app, world, role):
    """A connection as the service makes them (its role), acting for ``role`` of the world."""
    conn = postgres.connect(app.config["DATABASE_URL"], app.config, as_system=True)
    if role == "anonymous":
        set_actor(conn, user_id=None, role="")
    else:
        user = getattr(world, role)
        set_actor(conn, user_id=user["id"], role=user["role"], hospital_id=user["hospital_id"])
    return conn


# What each role may see of the rows above: labels from the ``rows`` fixture.
EVERYTHING = None
VISIBLE = {
    "bookings": {
        "patient": {"patient"}, "other_patient": {"other_patient"},
        "authority": {"patient"}, "other_authority": {"other_patient"},
        "admin": EVERYTHING, "anonymous": set(),
    },
    "transactions": {
        "patient": {"patient", "topup"}, "other_patient": {"other_patient"},
        "authority": {"patient"}, "other_authority": {"other_patient"},
        "admin": EVERYTHING, "anonymous": set(),
    },
    "refunds": {
        "patient": {"patient"}, "other_patient": {"other_patient"},
        "authority": {"patient"}, "other_authority": {"other_patient"},
        "admin": EVERYTHING, "anonymous": set(),
    },
    # An authority reaches the wallets of the users who paid its hospital (a refund
    # to the wallet credits them), no others.
    "user_balance": {
        "patient": {"patient"}, "other_patient": {"other_patient"},
        "authority": {"patient"}, "other_authority": {"other_patient"},
        "admin": EVERYTHING, "anonymous": set(),
    },
    # ...but only the ledger entries tied to its hospital's payments: none here.
    "balance_transactions": {
        "patient": {"patient"}, "other_patient": {"other_patient"},
        "authority": set(), "other_authority": set(),
        "admin": EVERYTHING, "anonymous": set(),
    },
    "hospital_earnings": {
        "patient": set(), "other_patient": set(),
        "authority": {"hospital"}, "other_authority": {"other_hospital"},
        "admin": EVERYTHING, "anonymous": set(),
    },
    "resource_audit_log": {
        "patient": set(), "other_patient": set(),
        "authority": {"hospital"}, "other_authority": {"other_hospital"},
        "admin": EVERYTHING, "anonymous": set(),
    },
    "idempotency_keys": {
        "patient": {"patient"}, "other_patient": {"other_patient"},
        "authority": set(), "other_authority": set(), "admin": set(), "anonymous": set(),
    },
    # The blood board is for every signed-in user, never anonymous callers.
    "blood_requests": {
        "patient": EVERYTHING, "other_patient": EVERYTHING, "authority": EVERYTHING,
        "other_authority": EVERYTHING, "admin": EVERYTHING, "anonymous": set(),
    },
    "admin_audit_log": {
        "patient": set(), "other_patient": set(), "authority": set(),
        "other_authority": set(), "admin": EVERYTHING, "anonymous": set(),
    },
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("table", sorted(VISIBLE))
def test_an_unscoped_select_sees_only_the_actors_rows(app, world, rows, table, role):
    key = "user_id" if table == "user_balance" else "id"
    labels = {row_id: label for label, row_id in rows[table].items()}
    expected = VISIBLE[table][role]
    expected = set(labels.values()) if expected is EVERYTHING else expected
    conn = _connect_as(app, world, role)
    try:
        seen = {row[key] for row in conn.execute(f"SELECT {key} FROM {table}")}
    finally:
        conn.close()
    assert {labels.get(row_id, f"unknown {row_id}") for row_id in seen} == expected


@pytest.mark.parametrize("role", ROLES)
def test_notifications_are_their_recipients_only(app, world, rows, db, role):
    conn = _connect_as(app, world, role)
    try:
        seen = [row["user_id"] for row in conn.execute("SELECT user_id FROM booking_notifications")]
    finally:
        conn.close()
    me = getattr(world, role)["id"] if role != "anonymous" else None
    mine = db.execute("SELECT count(*) AS n FROM booking_notifications WHERE user_id = ?",
                      (me,)).fetchone()["n"]
    assert seen == [me] * mine
    if role in ("patient", "authority"):
        assert mine > 0  # the booking triggers wrote them one (the test can fail)


# Whose wallet each role tries to write, and how many wallets "every wallet" reaches:
# a patient its own, an authority those of the users who paid its hospital.
WALLET_WRITES = {
    "patient": ("other_patient", 1),
    "authority": ("other_patient", 1),
    "other_authority": ("patient", 1),
    "anonymous": ("other_patient", 0),
}


@pytest.mark.parametrize("role", sorted(WALLET_WRITES))
def test_writing_another_users_wallet_changes_nothing(app, world, rows, db, role):
    target, reachable = WALLET_WRITES[role]
    target_id = getattr(world, target)["id"]
    conn = _connect_as(app, world, role)
    try:
        changed = conn.execute(
            "UPDATE user_balance SET balance_minor = balance_minor + 1000000 WHERE user_id = ?",
            (target_id,)).rowcount
        everyone = conn.execute("UPDATE user_balance SET balance_minor = 0").rowcount
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM bookings")  # nobody deletes bookings, not even its own
    finally:
        conn.close()
    assert changed == 0
    assert everyone == reachable
    balance = db.execute("SELECT balance_minor FROM user_balance WHERE user_id = ?",
                         (target_id,)).fetchone()["balance_minor"]
    assert balance == 5000


def test_a_patient_cannot_book_or_pay_in_another_users_name(app, world, rows):
    conn = _connect_as(app, world, "patient")
    try:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            with transaction(conn):
                conn.execute("UPDATE transactions SET user_id = ? WHERE id = ?",
                             (world.other_patient["id"], rows["transactions"]["patient"]))
    finally:
        conn.close()


@pytest.mark.parametrize("statement", [
    "ALTER TABLE bookings DISABLE ROW LEVEL SECURITY",
    "ALTER TABLE bookings NO FORCE ROW LEVEL SECURITY",
    "DROP POLICY bookings_actor ON bookings",
    "CREATE POLICY everything ON bookings USING (true)",
    "ALTER TABLE user_balance OWNER TO rapidcare_service",
    "CREATE TABLE smuggled (id integer)",
    "INSERT INTO schema_migrations (version, name, applied_at, execution_ms) VALUES (9999, 'x', now(), 0)",
])
def test_the_service_role_cannot_change_the_rules(app, world, statement):
    conn = _connect_as(app, world, "patient")
    try:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)
    finally:
        conn.close()


def test_row_security_off_is_an_error_not_a_bypass(app, world, rows):
    conn = _connect_as(app, world, "patient")
    try:
        conn.execute("SET row_security = off")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            conn.execute("SELECT * FROM bookings").fetchall()
    finally:
        conn.close()


def test_the_service_role_owns_nothing_and_cannot_bypass(app):
    conn = postgres.connect(app.config["DATABASE_URL"], app.config, as_system=True)
    try:
        role = conn.execute(
            """
            SELECT current_user AS name, rolsuper, rolbypassrls, rolcanlogin,
                   (SELECT count(*) FROM pg_class WHERE relowner = r.oid) AS owned
            FROM pg_roles AS r WHERE rolname = current_user
            """).fetchone()
        unprotected = conn.execute(
            """
            SELECT c.relname FROM pg_class AS c
            WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
              AND c.relname = ANY (?) AND NOT c.relrowsecurity
            """, (["bookings", "transactions", "refunds", "user_balance", "balance_transactions",
                   "hospital_earnings", "booking_notifications", "blood_requests",
                   "resource_audit_log", "admin_audit_log", "idempotency_keys"],)).fetchall()
    finally:
        conn.close()
    assert role == {"name": "rapidcare_service", "rolsuper": False, "rolbypassrls": False,
                    "rolcanlogin": False, "owned": 0}
    assert unprotected == []


def test_a_pooled_connection_comes_back_acting_for_nobody(app, world, rows):
    """The pool's check on borrow resets the actor a previous request left behind."""
    config = {**app.config, "POSTGRES_POOL_SIZE": 1}  # one connection: the same one again
    pool = postgres.pool_for(app.config["DATABASE_URL"], config)
    assert pool.max_size == 1
    conn = postgres.borrow(app.config["DATABASE_URL"], config)
    set_actor(conn, user_id=world.patient["id"], role="user")
    assert len(conn.execute("SELECT id FROM bookings").fetchall()) == 1
    backend = conn.raw.info.backend_pid
    conn.close()
    conn = postgres.borrow(app.config["DATABASE_URL"], config)
    try:
        assert conn.raw.info.backend_pid == backend
        assert conn.execute("SELECT current_user AS u").fetchone()["u"] == "rapidcare_service"
        assert conn.execute("SELECT id FROM bookings").fetchall() == []
    finally:
        conn.close()


def test_requests_act_for_their_caller(client, world, rows):
    """Through the service: the wallet a patient reads is theirs (it would read as
    empty if the request did not say who is acting), and the gateway's return page,
    with nobody signed in, still finds the payment (it acts as the system)."""
    response = client.get("/api/wallet", headers=world.headers["patient"])
    assert response.status_code == 200
    assert response.get_json()["balance"] == "50.00"
    booking_id = rows["bookings"]["patient"]
    response = client.post("/api/payments/sslcommerz/return/success",
                           data={"tran_id": f"TX-{booking_id}"})
    assert response.status_code == 200
    assert response.get_json()["transactionStatus"] == "completed"
