"""The invariants the data must satisfy whatever happened to the service.

The one home of these checks: reconciliation (the wallet checks, recorded as
discrepancies), the detailed health endpoint (``HEALTH_CHECKS``, a warning per
broken check), the stress tests, the crash test and the benchmarks all run
them from here. Reconciliation also audits each payment's postings itself
(app.reconciliation.service.transaction_problems), to name the payment and the
posting in a finding; tests/payments/helpers.py restates the money checks in
SQL written independently, as a test oracle. Each check is one SQL
query that returns the offending rows, so an empty result is the proof.
``check_all(conn)`` runs them all and returns readable violations (an empty
list when everything holds); ``offending_rows(conn, name)`` gives one check's
rows to a caller that reports them its own way.

Capacity (README "Scheduled capacity"): every resource's stored counters (what
the hospital marked by hand) add up to its total; an approved booking holds a
unit and no other booking holds any; every booking has its window's end stored;
and at no instant from now on do the units held by approved bookings whose
window contains that instant, plus the units marked occupied, reserved or in
maintenance, exceed the total. Instants before now are not checked: the marks
hold "from now on", and a past instant's bookings met the marks of their time.

Money: every wallet balance equals the sum of its ledger rows and the last
row's balance_after, and each ledger row starts where the previous one ended;
a completed payment is split into fee + share = amount; its refunds add up to
what it says was refunded, never more than was paid; a wallet payment took
money from the wallet exactly once.

Bookings: each booking has exactly one creation row in its status history and
its latest history row names its current status.
"""
from app.db import pick
from app.ops import checks

# Now, in the stored format of times (UTC ISO-8601 text with microseconds and
# +00:00 on SQLite; timestamptz on PostgreSQL).
NOW = {
    "sqlite": "strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')",
    "postgres": "now()",
}

# The busiest instants from now on of every (hospital, type) with approved holds:
# now itself and the start of each later hold (the held level only rises there).
SCHEDULE_SQL = """
        WITH holds AS (
            SELECT hospital_id, resource_type, scheduled_date, scheduled_end, allocated_units
            FROM bookings WHERE status = 'approved' AND scheduled_end > {now}
        ),
        instants AS (
            SELECT DISTINCT hospital_id, resource_type,
                   CASE WHEN scheduled_date > {now} THEN scheduled_date ELSE {now} END AS at
            FROM holds
        ),
        held AS (
            SELECT i.hospital_id, i.resource_type, i.at, sum(h.allocated_units) AS units
            FROM instants AS i JOIN holds AS h
              ON h.hospital_id = i.hospital_id AND h.resource_type = i.resource_type
             AND h.scheduled_date <= i.at AND h.scheduled_end > i.at
            GROUP BY i.hospital_id, i.resource_type, i.at
        )
        SELECT h.hospital_id, h.resource_type, h.at, h.units AS held,
               r.occupied + r.reserved + r.maintenance AS marked_unavailable, r.total
        FROM held AS h
        LEFT JOIN hospital_resources AS r
               ON r.hospital_id = h.hospital_id AND r.resource_type = h.resource_type
        WHERE r.id IS NULL OR h.units + r.occupied + r.reserved + r.maintenance > r.total
"""

# name -> (what must hold, SQL returning the rows that break it; a {dialect: SQL}
# dict where SQLite and PostgreSQL need different words for it)
CAPACITY_CHECKS = {
    "resource_counters_add_up": (
        "available + occupied + reserved + maintenance = total, all >= 0",
        """
        SELECT hospital_id, resource_type, total, available, occupied, reserved, maintenance
        FROM hospital_resources
        WHERE available + occupied + reserved + maintenance <> total
           OR available < 0 OR occupied < 0 OR reserved < 0 OR maintenance < 0 OR total < 0
        """,
    ),
    "allocation_matches_status": (
        "an approved booking holds units; no other booking holds any",
        """
        SELECT id, status, allocated_units FROM bookings
        WHERE (status = 'approved') <> (allocated_units > 0)
        """,
    ),
    "booking_window_stored": (
        "every booking has its window's end stored, after its start",
        """
        SELECT id, scheduled_date, scheduled_end FROM bookings
        WHERE scheduled_end IS NULL OR scheduled_end <= scheduled_date
        """,
    ),
    "schedule_within_capacity": (
        "at no instant from now on do the units held by approved bookings plus the units "
        "marked occupied, reserved or in maintenance exceed total; approved bookings hold "
        "units only of a resource that exists",
        {dialect: SCHEDULE_SQL.format(now=now) for dialect, now in NOW.items()},
    ),
}

SIGNED_LEDGER_AMOUNT = """
    CASE WHEN l.type IN ('credit', 'refund') THEN l.amount_minor ELSE -l.amount_minor END
"""

MONEY_CHECKS = {
    "balance_equals_ledger": (
        "user_balance = sum of the user's ledger rows (credit/refund minus debit/fee) = the "
        "last row's balanceAfter; no ledger rows without a wallet",
        f"""
        SELECT * FROM (
            SELECT b.user_id, b.balance_minor,
                   coalesce((SELECT sum({SIGNED_LEDGER_AMOUNT}) FROM balance_transactions AS l
                             WHERE l.user_id = b.user_id), 0) AS ledger_sum_minor,
                   coalesce((SELECT l.balance_after_minor FROM balance_transactions AS l
                             WHERE l.user_id = b.user_id ORDER BY l.id DESC LIMIT 1), 0)
                       AS last_balance_after_minor
            FROM user_balance AS b) AS w
        WHERE balance_minor <> ledger_sum_minor OR balance_minor <> last_balance_after_minor
        UNION ALL
        SELECT l.user_id, NULL, sum({SIGNED_LEDGER_AMOUNT}), NULL
        FROM balance_transactions AS l
        WHERE l.user_id NOT IN (SELECT user_id FROM user_balance)
        GROUP BY l.user_id
        """,
    ),
    "ledger_rows_chain": (
        "each ledger row's balanceBefore is the previous row's balanceAfter (first: 0)",
        """
        SELECT id, user_id, balance_before_minor, previous_after_minor FROM (
            SELECT id, user_id, balance_before_minor,
                   lag(balance_after_minor, 1, 0) OVER (PARTITION BY user_id ORDER BY id)
                       AS previous_after_minor
            FROM balance_transactions) AS chained
        WHERE balance_before_minor <> previous_after_minor
        """,
    ),
    "payment_split_adds_up": (
        "a completed booking payment has platform fee + hospital share = amount",
        """
        SELECT id, amount_minor, platform_fee_minor, hospital_share_minor FROM transactions
        WHERE kind = 'booking_payment'
          AND status IN ('completed', 'partially_refunded', 'refunded')
          AND (platform_fee_minor IS NULL OR hospital_share_minor IS NULL
               OR platform_fee_minor + hospital_share_minor <> amount_minor)
        """,
    ),
    "refunds_within_payment": (
        "refunded_minor is the sum of the payment's refunds (a refused gateway refund "
        "counts: the customer is still owed it) and never exceeds the amount paid; the "
        "status says how much went back",
        """
        SELECT t.id, t.status, t.amount_minor, t.refunded_minor,
               coalesce(r.total, 0) AS refunds_minor
        FROM transactions AS t
        LEFT JOIN (SELECT transaction_id, sum(amount_minor) AS total
                   FROM refunds GROUP BY transaction_id) AS r ON r.transaction_id = t.id
        WHERE t.refunded_minor <> coalesce(r.total, 0)
           OR t.refunded_minor > t.amount_minor
           OR (t.status = 'refunded' AND t.refunded_minor <> t.amount_minor)
           OR (t.status = 'partially_refunded'
               AND NOT (t.refunded_minor > 0 AND t.refunded_minor < t.amount_minor))
           OR (t.status IN ('pending', 'processing', 'failed', 'completed')
               AND t.refunded_minor <> 0)
        """,
    ),
    "wallet_payment_debited_once": (
        "a completed wallet payment has debit ledger rows summing to its amount; "
        "a payment that did not complete took nothing from the wallet",
        """
        SELECT t.id, t.status, t.amount_minor, coalesce(d.debited, 0) AS debited
        FROM transactions AS t
        LEFT JOIN (SELECT transaction_id, sum(amount_minor) AS debited
                   FROM balance_transactions
                   WHERE type = 'debit' AND transaction_id IS NOT NULL
                   GROUP BY transaction_id) AS d ON d.transaction_id = t.id
        WHERE t.kind = 'booking_payment' AND (
              (t.method = 'wallet' AND t.status IN ('completed', 'partially_refunded', 'refunded')
               AND coalesce(d.debited, 0) <> t.amount_minor)
           OR (t.status IN ('pending', 'processing', 'failed') AND coalesce(d.debited, 0) <> 0))
        """,
    ),
}

HISTORY_CHECKS = {
    "history_has_one_creation_row": (
        "each booking has exactly one creation row (old_status NULL) in its history",
        """
        SELECT b.id, count(h.id) AS creation_rows
        FROM bookings AS b
        LEFT JOIN booking_status_history AS h ON h.booking_id = b.id AND h.old_status IS NULL
        GROUP BY b.id HAVING count(h.id) <> 1
        """,
    ),
    "history_ends_in_current_status": (
        "each booking's latest history row names its current status",
        """
        SELECT b.id, b.status, h.new_status AS last_history_status
        FROM bookings AS b
        LEFT JOIN booking_status_history AS h
               ON h.id = (SELECT max(id) FROM booking_status_history WHERE booking_id = b.id)
        WHERE h.new_status IS DISTINCT FROM b.status
        """,
    ),
}

# How many offending rows to show per check: a broken invariant is usually broken a lot.
SHOW_ROWS = 5


ALL_CHECKS = {**CAPACITY_CHECKS, **MONEY_CHECKS, **HISTORY_CHECKS}

# What the detailed health endpoint runs on every call. On 1,000,000 bookings
# (benchmarks.bulkload plus 2,000,000 resource audit rows, 2 busy cores) capacity
# and money take about 4 s together, a third of the PRAGMA quick_check that
# endpoint already runs (12 s). The history checks are left out: a pass over
# every status-history row each, about 11 s together; the stress/crash tests and
# the benchmarks run them.
HEALTH_CHECKS = (*CAPACITY_CHECKS, *MONEY_CHECKS)


def offending_rows(conn, name):
    """The rows that break one check; empty when it holds."""
    return conn.execute(pick(conn, ALL_CHECKS[name][1])).fetchall()


def _run(conn, names):
    violations = []
    for name in names:
        rows = offending_rows(conn, name)
        if rows:
            shown = "; ".join(str(dict(row)) for row in rows[:SHOW_ROWS])
            more = f" (+{len(rows) - SHOW_ROWS} more)" if len(rows) > SHOW_ROWS else ""
            violations.append(f"{name}: {ALL_CHECKS[name][0]}: {len(rows)} row(s) break it: "
                              f"{shown}{more}")
    return violations


def check_capacity(conn):
    return _run(conn, CAPACITY_CHECKS)


def check_money(conn):
    return _run(conn, MONEY_CHECKS)


def check_history(conn):
    return _run(conn, HISTORY_CHECKS)


def check_integrity(conn):
    """SQLite's own consistency check plus foreign keys (app.ops.checks); [] when both are clean."""
    violations = []
    problems = checks.integrity_problems(conn, limit=SHOW_ROWS)
    if problems:
        violations.append(f"integrity_check: {'; '.join(problems)}")
    broken_refs = checks.foreign_key_problems(conn, limit=SHOW_ROWS)
    if broken_refs:
        violations.append(f"foreign_key_check: {'; '.join(broken_refs)}")
    return violations


def check_all(conn, *, integrity=True):
    """Every invariant; a list of violations, empty when the data is consistent."""
    violations = _run(conn, ALL_CHECKS)
    if integrity:
        violations += check_integrity(conn)
    return violations


def broken_checks(conn, names):
    """The names among ``names`` of the checks that do not hold."""
    return [name for name in names if offending_rows(conn, name)]
