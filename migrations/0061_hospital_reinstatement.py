"""Reinstating a suspended hospital (issue #16): the transition trigger allows
suspended -> approved, and no other move out of suspended.

The matrix of migration 0010 made ``suspended`` a dead end. SQLite cannot alter a
trigger: it is dropped and created again with one more allowed move. PostgreSQL's
trigger calls a function, which is replaced in place; the trigger itself stays.
"""

SQLITE = [
    "DROP TRIGGER hospitals_before_update_transition",
    """
    CREATE TRIGGER hospitals_before_update_transition
    BEFORE UPDATE OF status ON hospitals
    WHEN OLD.status <> NEW.status AND NOT (
           (OLD.status = 'pending'   AND NEW.status IN ('approved', 'rejected'))
        OR (OLD.status = 'rejected'  AND NEW.status = 'pending')
        OR (OLD.status = 'approved'  AND NEW.status = 'suspended')
        OR (OLD.status = 'suspended' AND NEW.status = 'approved'))
    BEGIN
        SELECT RAISE(ABORT, 'hospital status transition not allowed');
    END
    """,
]

POSTGRES = [
    """
    CREATE OR REPLACE FUNCTION hospitals_before_update_transition() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF NOT ((OLD.status = 'pending'   AND NEW.status IN ('approved', 'rejected'))
             OR (OLD.status = 'rejected'  AND NEW.status = 'pending')
             OR (OLD.status = 'approved'  AND NEW.status = 'suspended')
             OR (OLD.status = 'suspended' AND NEW.status = 'approved')) THEN
            RAISE EXCEPTION 'hospital status transition not allowed' USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END $$
    """,
]

# Undo (`flask db downgrade`): the matrix as migration 0010 wrote it, where suspended
# is a dead end again. Hospitals suspended or reinstated meanwhile keep their status.
SQLITE_DOWN = [
    "DROP TRIGGER hospitals_before_update_transition",
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
]

POSTGRES_DOWN = [
    """
    CREATE OR REPLACE FUNCTION hospitals_before_update_transition() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF NOT ((OLD.status = 'pending'  AND NEW.status IN ('approved', 'rejected'))
             OR (OLD.status = 'rejected' AND NEW.status = 'pending')
             OR (OLD.status = 'approved' AND NEW.status = 'suspended')) THEN
            RAISE EXCEPTION 'hospital status transition not allowed' USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END $$
    """,
]
