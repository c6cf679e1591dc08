"""Hospital approval states and price history, guarded by the database.

- ``hospitals_before_update_transition``: the approval workflow's matrix
  (pending -> approved | rejected, rejected -> pending on resubmission,
  approved -> suspended), so no code path can skip review or revive a
  suspended hospital by accident.
- ``hospital_pricing_before_update_history`` / ``..._before_delete_history``:
  a price row is history once written. The only change allowed is closing the
  active row (effective_to NULL -> a time not before effective_from); a new
  price is a new row, so what a booking was quoted can always be traced.
"""

STATEMENTS = [
    """
    CREATE TRIGGER hospitals_before_update_transition
    BEFORE UPDATE OF status ON hospitals
    WHEN OLD.status <> NEW.status AND NOT (
           (OLD.status = 'pending'  AND NEW.status IN ('approved', 'rejected'))
        OR (OLD.status = 'rejected' AND NEW.status = 'pending')
        OR (OLD.status = 'approved' AND NEW.status = 'suspended'))
    BEGIN
        SELECT RAISE(ABORT, 'hospital status transition not allowed');
    END
    """,
    """
    CREATE TRIGGER hospital_pricing_before_update_history
    BEFORE UPDATE ON hospital_pricing
    WHEN OLD.effective_to IS NOT NULL
      OR NEW.effective_to IS NULL
      OR NEW.effective_to < OLD.effective_from
      OR NEW.id IS NOT OLD.id
      OR NEW.hospital_id IS NOT OLD.hospital_id
      OR NEW.resource_type IS NOT OLD.resource_type
      OR NEW.base_price_minor IS NOT OLD.base_price_minor
      OR NEW.price_per_hour_minor IS NOT OLD.price_per_hour_minor
      OR NEW.price_per_day_minor IS NOT OLD.price_per_day_minor
      OR NEW.emergency_multiplier_bp IS NOT OLD.emergency_multiplier_bp
      OR NEW.currency IS NOT OLD.currency
      OR NEW.effective_from IS NOT OLD.effective_from
      OR NEW.created_by IS NOT OLD.created_by
      OR NEW.created_at IS NOT OLD.created_at
    BEGIN
        SELECT RAISE(ABORT, 'hospital_pricing is history: only closing the active price is allowed');
    END
    """,
    """
    CREATE TRIGGER hospital_pricing_before_delete_history
    BEFORE DELETE ON hospital_pricing
    BEGIN
        SELECT RAISE(ABORT, 'hospital_pricing is history: rows are never deleted');
    END
    """,
]


def up(conn):
    for statement in STATEMENTS:
        conn.execute(statement)
