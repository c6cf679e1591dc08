"""The invariants the data must satisfy whatever happened to the service.

One module, used by the stress tests, the crash test and the benchmarks: each
check is one SQL query that returns the offending rows, so an empty result is
the proof. ``check_all(conn)`` runs them all and returns readable violations
(an empty list when everything holds).

Capacity: every resource's counters add up to its total; an approved booking
holds the units its approval took and no other booking holds any; and, where
nobody re-counts occupancy by hand (tests, benchmarks: ``exact_occupancy``),
``occupied`` is exactly what the approved bookings hold.

Money: every wallet balance equals the sum of its ledger rows and each ledger
row starts where the previous one ended; a completed payment is split into
fee + share = amount; refunds never exceed what was paid; a wallet payment
took money from the wallet exactly once.

Bookings: each booking has exactly one creation row in its status history and
its latest history row names its current status.
"""

# name -> (what must hold, SQL returning the rows that break it)
CAPACITY_CHECKS = {
    "resource_counters_add_up": (
        "available + occupied + reserved + maintenance = total, all >= 0",
        """
        SELECT hospital_id, resource_type, total, available, occupied, reserved, maintenance
        FROM hospital_resources
        WHERE available + occupied + reserved + maintenance <> total
           OR min(available, occupied, reserved, maintenance, total) < 0
        """,
    ),
    "allocation_matches_status": (
        "an approved booking holds units; no other booking holds any",
        """
        SELECT id, status, allocated_units FROM bookings
        WHERE (status = 'approved') <> (allocated_units > 0)
        """,
    ),
    "occupancy_covers_allocations": (
        "occupied >= units held by approved bookings, per hospital and type",
        """
        SELECT a.hospital_id, a.resource_type, a.held, r.occupied
        FROM (SELECT hospital_id, resource_type, sum(allocated_units) AS held
              FROM bookings WHERE status = 'approved'
              GROUP BY hospital_id, resource_type) AS a
        LEFT JOIN hospital_resources AS r
               ON r.hospital_id = a.hospital_id AND r.resource_type = a.resource_type
        WHERE r.occupied IS NULL OR r.occupied < a.held
        """,
    ),
}

EXACT_OCCUPANCY_CHECK = {
    "occupancy_equals_allocations": (
        "occupied = units held by approved bookings (no manual re-count happened)",
        """
        SELECT r.hospital_id, r.resource_type, r.occupied, coalesce(a.held, 0) AS held
        FROM hospital_resources AS r
        LEFT JOIN (SELECT hospital_id, resource_type, sum(allocated_units) AS held
                   FROM bookings WHERE status = 'approved'
                   GROUP BY hospital_id, resource_type) AS a
               ON a.hospital_id = r.hospital_id AND a.resource_type = r.resource_type
        WHERE r.occupied <> coalesce(a.held, 0)
        """,
    ),
}

MONEY_CHECKS = {
    "balance_equals_ledger": (
        "user_balance = sum of the user's ledger rows (credit/refund minus debit/fee)",
        """
        WITH ledger AS (
            SELECT user_id,
                   sum(CASE WHEN type IN ('credit', 'refund') THEN amount_minor
                            ELSE -amount_minor END) AS net
            FROM balance_transactions GROUP BY user_id
        )
        SELECT b.user_id, b.balance_minor, coalesce(l.net, 0) AS ledger_net
        FROM user_balance AS b LEFT JOIN ledger AS l ON l.user_id = b.user_id
        WHERE b.balance_minor <> coalesce(l.net, 0)
        UNION ALL
        SELECT l.user_id, NULL, l.net
        FROM ledger AS l LEFT JOIN user_balance AS b ON b.user_id = l.user_id
        WHERE b.user_id IS NULL AND l.net <> 0
        """,
    ),
    "ledger_rows_chain": (
        "each ledger row's balanceBefore is the previous row's balanceAfter (first: 0)",
        """
        SELECT id, user_id, balance_before_minor, previous_after FROM (
            SELECT id, user_id, balance_before_minor,
                   lag(balance_after_minor, 1, 0) OVER (PARTITION BY user_id ORDER BY id)
                       AS previous_after
            FROM balance_transactions)
        WHERE balance_before_minor <> previous_after
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
        "refunds (not failed) never exceed the amount paid; refunded_minor lies between "
        "the completed refunds and all live refunds; the status says how much went back",
        """
        SELECT t.id, t.status, t.amount_minor, t.refunded_minor,
               coalesce(r.live, 0) AS live_refunds, coalesce(r.done, 0) AS completed_refunds
        FROM transactions AS t
        LEFT JOIN (SELECT transaction_id,
                          sum(CASE WHEN status <> 'failed' THEN amount_minor ELSE 0 END) AS live,
                          sum(CASE WHEN status = 'completed' THEN amount_minor ELSE 0 END) AS done
                   FROM refunds GROUP BY transaction_id) AS r ON r.transaction_id = t.id
        WHERE coalesce(r.live, 0) > t.amount_minor
           OR t.refunded_minor < coalesce(r.done, 0)
           OR t.refunded_minor > coalesce(r.live, 0)
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
        WHERE h.new_status IS NOT b.status
        """,
    ),
}

# How many offending rows to show per check: a broken invariant is usually broken a lot.
SHOW_ROWS = 5


def _run(conn, checks):
    violations = []
    for name, (rule, sql) in checks.items():
        rows = conn.execute(sql).fetchall()
        if rows:
            shown = "; ".join(str(dict(row)) for row in rows[:SHOW_ROWS])
            more = f" (+{len(rows) - SHOW_ROWS} more)" if len(rows) > SHOW_ROWS else ""
            violations.append(f"{name}: {rule}: {len(rows)} row(s) break it: {shown}{more}")
    return violations


def check_capacity(conn, *, exact_occupancy=True):
    checks = dict(CAPACITY_CHECKS)
    if exact_occupancy:
        checks.update(EXACT_OCCUPANCY_CHECK)
    return _run(conn, checks)


def check_money(conn):
    return _run(conn, MONEY_CHECKS)


def check_history(conn):
    return _run(conn, HISTORY_CHECKS)


def check_integrity(conn):
    """SQLite's own consistency check plus foreign keys; [] when both are clean."""
    problems = [row["integrity_check"] for row in conn.execute("PRAGMA integrity_check")]
    violations = [] if problems == ["ok"] else [f"integrity_check: {'; '.join(problems[:SHOW_ROWS])}"]
    broken_refs = conn.execute("PRAGMA foreign_key_check").fetchall()
    if broken_refs:
        violations.append(f"foreign_key_check: {len(broken_refs)} row(s): "
                          f"{[dict(row) for row in broken_refs[:SHOW_ROWS]]}")
    return violations


def check_all(conn, *, exact_occupancy=True, integrity=True):
    """Every invariant; a list of violations, empty when the data is consistent.

    ``exact_occupancy``: also require occupied == units held by approved bookings
    (true wherever no authority re-counted occupancy by hand).
    """
    violations = check_capacity(conn, exact_occupancy=exact_occupancy)
    violations += check_money(conn)
    violations += check_history(conn)
    if integrity:
        violations += check_integrity(conn)
    return violations
