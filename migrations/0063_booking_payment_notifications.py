"""Paying a booking notifies the patient and the hospital's staff (issue #16).

A booking payment becomes ``completed`` in exactly one statement
(app.payments.queries.complete_transaction), whether it was paid from the wallet or
confirmed by the gateway; a trigger on that change writes the notifications in the
same transaction, as the booking status triggers of migration 0001 do:

- the payer: ``payment_completed``, "Your payment of 1500.00 BDT for booking … was received.";
- every active authority of the booked hospital: ``payment_received``.

Amounts are printed from integer poisha with integer arithmetic (never a float).
"""

SQLITE = [
    """
    CREATE TRIGGER transactions_after_update_paid_notify
    AFTER UPDATE OF status ON transactions
    WHEN NEW.status = 'completed' AND OLD.status <> 'completed' AND NEW.kind = 'booking_payment'
    BEGIN
        INSERT INTO booking_notifications (user_id, booking_id, type, title, message, created_at)
        SELECT NEW.user_id, b.id, 'payment_completed', 'Payment received',
               'Your payment of ' || (NEW.amount_minor / 100) || '.'
               || substr('0' || (NEW.amount_minor % 100), -2) || ' ' || NEW.currency
               || ' for booking ' || b.booking_reference || ' was received.',
               NEW.completed_at
        FROM bookings AS b WHERE b.id = NEW.booking_id;
        INSERT INTO booking_notifications (user_id, booking_id, type, title, message, created_at)
        SELECT u.id, b.id, 'payment_received', 'Booking paid',
               'Booking ' || b.booking_reference || ' was paid: ' || (NEW.amount_minor / 100) || '.'
               || substr('0' || (NEW.amount_minor % 100), -2) || ' ' || NEW.currency || '.',
               NEW.completed_at
        FROM bookings AS b
        JOIN users AS u ON u.hospital_id = b.hospital_id
        WHERE b.id = NEW.booking_id AND u.role = 'hospital-authority' AND u.status = 'active'
        ORDER BY u.id;
    END
    """,
]

POSTGRES = [
    """
    CREATE FUNCTION transactions_after_update_paid_notify() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
    DECLARE
        amount text := (NEW.amount_minor / 100)::text || '.'
                       || lpad((NEW.amount_minor % 100)::text, 2, '0') || ' ' || NEW.currency;
    BEGIN
        INSERT INTO booking_notifications (user_id, booking_id, type, title, message, created_at)
        SELECT NEW.user_id, b.id, 'payment_completed', 'Payment received',
               'Your payment of ' || amount || ' for booking ' || b.booking_reference
               || ' was received.',
               NEW.completed_at
        FROM bookings AS b WHERE b.id = NEW.booking_id;
        INSERT INTO booking_notifications (user_id, booking_id, type, title, message, created_at)
        SELECT u.id, b.id, 'payment_received', 'Booking paid',
               'Booking ' || b.booking_reference || ' was paid: ' || amount || '.',
               NEW.completed_at
        FROM bookings AS b
        JOIN users AS u ON u.hospital_id = b.hospital_id
        WHERE b.id = NEW.booking_id AND u.role = 'hospital-authority' AND u.status = 'active'
        ORDER BY u.id;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER transactions_after_update_paid_notify
    AFTER UPDATE OF status ON transactions
    FOR EACH ROW WHEN (NEW.status = 'completed' AND OLD.status <> 'completed'
                       AND NEW.kind = 'booking_payment')
    EXECUTE FUNCTION transactions_after_update_paid_notify()
    """,
]

# Undo (`flask db downgrade`): payments stop notifying; notices already sent stay.
SQLITE_DOWN = [
    "DROP TRIGGER transactions_after_update_paid_notify",
]

POSTGRES_DOWN = [
    "DROP TRIGGER transactions_after_update_paid_notify ON transactions",
    "DROP FUNCTION transactions_after_update_paid_notify()",
]
