"""Idempotency-Key claims remember the effect they committed.

Before this, a request's effect (a refund, a wallet payment, an adjustment)
committed in one transaction and its stored answer in a later one. A worker
killed between the two left a claim with no answer; the client's retry took
the claim over after the timeout and ran the operation a second time (issue
#12: two refunds for one key). Now the service writes the effect's id onto
its claim row in the same transaction as the effect itself, so whoever holds
the claim next finds the committed effect and answers from it:

- effect_kind, effect_id: what the request under this claim committed
  ('transaction', 'refund' or 'ledger_entry' and its id); both or neither.
- released: the request ended in an error after its effect committed (a crash
  or a 503 after the commit). Such a claim cannot simply be deleted, as one
  with no effect is: it is handed to the next request with the key at once,
  which answers from the effect instead of running again.
"""

STATEMENTS = [
    """
    ALTER TABLE idempotency_keys ADD COLUMN effect_kind TEXT
        CHECK (effect_kind IS NULL OR effect_kind IN ('transaction', 'refund', 'ledger_entry'))
    """,
    """
    ALTER TABLE idempotency_keys ADD COLUMN effect_id INTEGER
        CHECK ((effect_id IS NULL) = (effect_kind IS NULL))
    """,
    """
    ALTER TABLE idempotency_keys ADD COLUMN released INTEGER NOT NULL DEFAULT 0
        CHECK (released IN (0, 1))
    """,
]


SQLITE = STATEMENTS

POSTGRES = [
    """
    ALTER TABLE idempotency_keys
        ADD COLUMN effect_kind text
            CHECK (effect_kind IS NULL OR effect_kind IN ('transaction', 'refund', 'ledger_entry')),
        ADD COLUMN effect_id bigint,
        ADD COLUMN released boolean NOT NULL DEFAULT false,
        ADD CHECK ((effect_id IS NULL) = (effect_kind IS NULL))
    """,
]

# Undo (`flask db downgrade`): the three columns go, and with them what the claims
# remembered of their effects. effect_id first: its CHECK names effect_kind, and SQLite
# drops a column only when no other column's constraint names it.
SQLITE_DOWN = [
    "ALTER TABLE idempotency_keys DROP COLUMN released",
    "ALTER TABLE idempotency_keys DROP COLUMN effect_id",
    "ALTER TABLE idempotency_keys DROP COLUMN effect_kind",
]

POSTGRES_DOWN = [
    # the table CHECK naming effect_id and effect_kind goes with them
    """
    ALTER TABLE idempotency_keys
        DROP COLUMN released,
        DROP COLUMN effect_id,
        DROP COLUMN effect_kind
    """,
]
