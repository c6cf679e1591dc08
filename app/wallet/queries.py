"""SQL for user_balance and balance_transactions.

Functions take ``conn``, return dicts and never commit.
"""


def get_balance(conn, user_id):
    return conn.execute(
        "SELECT user_id, balance_minor, currency, updated_at FROM user_balance WHERE user_id = ?",
        (user_id,),
    ).fetchone()


def ensure_balance_row(conn, user_id, currency, now):
    """Wallets are opened lazily, at zero, by the first write that needs one."""
    conn.execute(
        """
        INSERT INTO user_balance (user_id, balance_minor, currency, updated_at)
        VALUES (?, 0, ?, ?)
        ON CONFLICT (user_id) DO NOTHING
        """,
        (user_id, currency, now),
    )


def add_to_balance(conn, user_id, amount_minor, now):
    """balance += amount; returns the new balance."""
    return conn.execute(
        """
        UPDATE user_balance SET balance_minor = balance_minor + :amount, updated_at = :now
        WHERE user_id = :user_id
        RETURNING balance_minor
        """,
        {"amount": amount_minor, "now": now, "user_id": user_id},
    ).fetchone()["balance_minor"]


def take_from_balance(conn, user_id, amount_minor, now):
    """balance -= amount only if the balance covers it (one guarded statement).

    Returns the new balance, or None when the balance was short (nothing changed).
    """
    row = conn.execute(
        """
        UPDATE user_balance SET balance_minor = balance_minor - :amount, updated_at = :now
        WHERE user_id = :user_id AND balance_minor >= :amount
        RETURNING balance_minor
        """,
        {"amount": amount_minor, "now": now, "user_id": user_id},
    ).fetchone()
    return row["balance_minor"] if row else None


def insert_ledger_row(conn, *, user_id, transaction_id, type, amount_minor, balance_before_minor,
                      balance_after_minor, description, created_by, now):
    return conn.execute(
        """
        INSERT INTO balance_transactions (user_id, transaction_id, type, amount_minor,
            balance_before_minor, balance_after_minor, description, created_by, created_at)
        VALUES (:user_id, :transaction_id, :type, :amount_minor,
            :balance_before_minor, :balance_after_minor, :description, :created_by, :now)
        RETURNING *
        """,
        {
            "user_id": user_id, "transaction_id": transaction_id, "type": type,
            "amount_minor": amount_minor, "balance_before_minor": balance_before_minor,
            "balance_after_minor": balance_after_minor, "description": description,
            "created_by": created_by, "now": now,
        },
    ).fetchone()


def get_ledger_entry(conn, entry_id):
    return conn.execute("SELECT * FROM balance_transactions WHERE id = ?", (entry_id,)).fetchone()


def list_ledger(conn, user_id, limit, offset):
    return conn.execute(
        """
        SELECT * FROM balance_transactions WHERE user_id = ?
        ORDER BY id DESC LIMIT ? OFFSET ?
        """,
        (user_id, limit, offset),
    ).fetchall()


def count_ledger(conn, user_id):
    return conn.execute(
        "SELECT count(*) AS n FROM balance_transactions WHERE user_id = ?", (user_id,)
    ).fetchone()["n"]
