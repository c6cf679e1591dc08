"""Where bookings hand over to payments.

``on_booking_cancelled`` is called by the bookings service INSIDE the cancellation
transaction, after the booking row has moved to 'cancelled'. It must do no network
I/O (the write lock is held). It records whatever refund the payment policy grants
and returns a callable for work that must happen after commit (a gateway refund
call), or None.
"""


def on_booking_cancelled(conn, booking, *, actor_id, now, config):
    # Until payments land, no booking can have been paid: nothing to refund.
    return None
