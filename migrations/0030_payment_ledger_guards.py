"""Database guards for the wallet ledger and payment settlement.

Migration 0001 already makes the ledger append-only and keeps each row's
arithmetic right (balance_after = balance_before +/- amount). What it cannot
see is the chain between rows and the link to the balance itself. These make
"every balance equals its ledger" and "one payment has one effect" hold at the
database, whatever code path writes:

- balance_transactions_before_insert_chain: a new ledger row must start where
  the user's previous row ended (0 for the first) and, when the user has a
  wallet row, end at the balance the same transaction has just written to it
  (a ledger without a wallet row is left to reconciliation to report).
- one debit per payment and one credit per top-up (refund rows may repeat).
- one settlement row (the positive share/fee split) per transaction in
  hospital_earnings; refund reversals are negative rows and may repeat.
- one gateway validation id per transaction: a gateway payment is credited once.
- an index to aggregate hospital_earnings per transaction (reconciliation).
"""

STATEMENTS = [
    """
    CREATE TRIGGER balance_transactions_before_insert_chain
    BEFORE INSERT ON balance_transactions
    WHEN NEW.balance_before_minor IS NOT coalesce(
             (SELECT balance_after_minor FROM balance_transactions
              WHERE user_id = NEW.user_id ORDER BY id DESC LIMIT 1), 0)
      OR NEW.balance_after_minor <>
             (SELECT balance_minor FROM user_balance WHERE user_id = NEW.user_id)
    BEGIN
        SELECT RAISE(ABORT, 'ledger row does not continue the balance chain');
    END
    """,
    """
    CREATE UNIQUE INDEX idx_balance_tx_one_posting
        ON balance_transactions (transaction_id, type)
        WHERE transaction_id IS NOT NULL AND type IN ('credit', 'debit')
    """,
    """
    CREATE UNIQUE INDEX idx_hospital_earnings_one_settlement
        ON hospital_earnings (transaction_id)
        WHERE share_minor >= 0 AND fee_minor >= 0
    """,
    "CREATE INDEX idx_hospital_earnings_transaction ON hospital_earnings (transaction_id)",
    """
    CREATE UNIQUE INDEX idx_transactions_gateway_val_id
        ON transactions (gateway_val_id) WHERE gateway_val_id IS NOT NULL
    """,
]


SQLITE = STATEMENTS

POSTGRES = [
    """
    CREATE FUNCTION balance_transactions_before_insert_chain() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.balance_before_minor IS DISTINCT FROM coalesce(
               (SELECT balance_after_minor FROM balance_transactions
                WHERE user_id = NEW.user_id ORDER BY id DESC LIMIT 1), 0)
           OR NEW.balance_after_minor <>
               (SELECT balance_minor FROM user_balance WHERE user_id = NEW.user_id) THEN
            RAISE EXCEPTION 'ledger row does not continue the balance chain' USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER balance_transactions_before_insert_chain
    BEFORE INSERT ON balance_transactions
    FOR EACH ROW EXECUTE FUNCTION balance_transactions_before_insert_chain()
    """,
] + STATEMENTS[1:]  # the four indexes read the same in both dialects

# Undo (`flask db downgrade`): the guards go; the ledger rows stay as they are.
SQLITE_DOWN = [
    "DROP INDEX idx_transactions_gateway_val_id",
    "DROP INDEX idx_hospital_earnings_transaction",
    "DROP INDEX idx_hospital_earnings_one_settlement",
    "DROP INDEX idx_balance_tx_one_posting",
    "DROP TRIGGER balance_transactions_before_insert_chain",
]

POSTGRES_DOWN = SQLITE_DOWN[:4] + [
    "DROP TRIGGER balance_transactions_before_insert_chain ON balance_transactions",
    "DROP FUNCTION balance_transactions_before_insert_chain()",
]
