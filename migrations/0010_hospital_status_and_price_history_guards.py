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


SQLITE = STATEMENTS

POSTGRES = [
    """
    CREATE FUNCTION hospitals_before_update_transition() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NOT ((OLD.status = 'pending'  AND NEW.status IN ('approved', 'rejected'))
             OR (OLD.status = 'rejected' AND NEW.status = 'pending')
             OR (OLD.status = 'approved' AND NEW.status = 'suspended')) THEN
            RAISE EXCEPTION 'hospital status transition not allowed' USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER hospitals_before_update_transition
    BEFORE UPDATE OF status ON hospitals
    FOR EACH ROW WHEN (OLD.status <> NEW.status)
    EXECUTE FUNCTION hospitals_before_update_transition()
    """,
    """
    CREATE FUNCTION hospital_pricing_before_update_history() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF OLD.effective_to IS NOT NULL
           OR NEW.effective_to IS NULL
           OR NEW.effective_to < OLD.effective_from
           OR (NEW.id, NEW.hospital_id, NEW.resource_type, NEW.base_price_minor,
               NEW.price_per_hour_minor, NEW.price_per_day_minor, NEW.emergency_multiplier_bp,
               NEW.currency, NEW.effective_from, NEW.created_by, NEW.created_at)
              IS DISTINCT FROM
              (OLD.id, OLD.hospital_id, OLD.resource_type, OLD.base_price_minor,
               OLD.price_per_hour_minor, OLD.price_per_day_minor, OLD.emergency_multiplier_bp,
               OLD.currency, OLD.effective_from, OLD.created_by, OLD.created_at) THEN
            RAISE EXCEPTION 'hospital_pricing is history: only closing the active price is allowed'
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER hospital_pricing_before_update_history
    BEFORE UPDATE ON hospital_pricing
    FOR EACH ROW EXECUTE FUNCTION hospital_pricing_before_update_history()
    """,
    """
    CREATE FUNCTION hospital_pricing_before_delete_history() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'hospital_pricing is history: rows are never deleted' USING ERRCODE = 'check_violation';
    END $$
    """,
    """
    CREATE TRIGGER hospital_pricing_before_delete_history
    BEFORE DELETE ON hospital_pricing
    FOR EACH ROW EXECUTE FUNCTION hospital_pricing_before_delete_history()
    """,
]

# Undo (`flask db downgrade`): the guards go; the rows they guarded stay as they are.
SQLITE_DOWN = [
    "DROP TRIGGER hospital_pricing_before_delete_history",
    "DROP TRIGGER hospital_pricing_before_update_history",
    "DROP TRIGGER hospitals_before_update_transition",
]

POSTGRES_DOWN = [
    "DROP TRIGGER hospital_pricing_before_delete_history ON hospital_pricing",
    "DROP FUNCTION hospital_pricing_before_delete_history()",
    "DROP TRIGGER hospital_pricing_before_update_history ON hospital_pricing",
    "DROP FUNCTION hospital_pricing_before_update_history()",
    "DROP TRIGGER hospitals_before_update_transition ON hospitals",
    "DROP FUNCTION hospitals_before_update_transition()",
]
