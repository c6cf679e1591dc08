"""Where bookings hand over to payments.

``on_booking_cancelled`` is called by the bookings service INSIDE the cancellation
transaction, after the booking row has moved to 'cancelled'. It does no network
I/O (the write lock is held). It records whatever refund the hospital's payment
policy grants and returns a callable for work that must happen after commit (the
gateway refund call), or None:

    with transaction(conn):
        ...  # booking -> cancelled, units released
        after_commit = on_booking_cancelled(conn, booking, actor_id=..., now=now, config=config)
    if after_commit:
        after_commit()

- payment due still open (pending, or a gateway attempt processing): failed; nothing owed.
- paid from the wallet: refunded to the wallet in this same transaction.
- paid through SSLCommerz: the refund row is recorded ('pending'); the callable
  asks the gateway to refund it.
The refund is the policy's share of the amount paid (100 % when cancelled at least
``cancellation_window_hours`` before scheduledDate, else ``refund_inside_window_bp``),
less anything already refunded.
"""
from app.payments import refunds
from app.payments.sslcommerz import SslcommerzClient


def on_booking_cancelled(conn, booking, *, actor_id, now, config):
    return refunds.refund_cancelled_booking(
        conn, booking["id"], actor_id=actor_id, now=now, config=config,
        gateway_factory=lambda: SslcommerzClient.from_config(config),
    )
