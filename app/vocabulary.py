"""The domain's words: the sets of values a column or a field may hold, each named once.

Schemas (validators, enums in the OpenAPI document) and services (counts per
status, triage) import them from here. The database states the same sets in its
CHECK constraints; landed migrations are frozen history, so
tests/test_vocabulary.py reads the migrated schema and fails if the two drift.
"""

# --- hospitals and their resources -------------------------------------------

HOSPITAL_STATUSES = ("pending", "approved", "rejected", "suspended")
RESOURCE_TYPES = ("beds", "icu", "operationTheatres")

# --- users ---------------------------------------------------------------------

USER_STATUSES = ("active", "inactive", "suspended")

# --- bookings and blood requests -------------------------------------------------

BOOKING_STATUSES = ("pending", "approved", "declined", "cancelled", "completed")
GENDERS = ("male", "female", "other")
# A booking's window (estimatedDuration) lasts 1 to this many hours, so an approved
# booking holds its unit at most this long: the capacity reads rely on it to stop
# their index ranges (app/resources/queries.py), and the database refuses a longer
# window (CHECK estimated_duration_hours, migration 0141's bound on scheduled_end).
MAX_DURATION_HOURS = 168

# How urgent a booking or a blood request is, least to most.
URGENCIES = ("low", "medium", "high", "critical")
# Triage rank, 0 = most urgent: the database's urgency_rank column computes the
# same numbers, and the pending queue is ordered by it.
URGENCY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}
# Most urgent first. The bookings API has always listed its urgencies in this
# order (its enum and its "Must be one of" message), so it keeps doing so.
URGENCIES_MOST_URGENT_FIRST = tuple(sorted(URGENCIES, key=URGENCY_RANK.__getitem__))

# A booking's payment as the booking shows it (derived from its payment and its
# write-off, never stored). ``written_off``: completed, never paid, and the due
# written off by the hospital's staff or an admin (no money moved).
BOOKING_PAYMENT_STATUSES = ("unpaid", "paid", "partially_refunded", "refunded", "not_required",
                            "written_off")

# What a notification is about (booking_notifications.type; a CHECK on PostgreSQL, a
# trigger on SQLite: migration 0065). The patient's booking_* notices; the staff's
# booking_request (a new booking), booking_cancelled (the patient cancelled) and
# booking_overstay (a window ended without completion: the overstay job, #15);
# payment_completed (the payer) and payment_received (the staff); the blood notices.
NOTIFICATION_TYPES = (
    "booking_submitted", "booking_request", "booking_approved", "booking_declined",
    "booking_cancelled", "booking_completed", "booking_overstay",
    "payment_completed", "payment_received",
    "blood_request_fulfilled", "blood_request_cancelled", "blood_request_expired", "blood_match",
)

BLOOD_REQUEST_STATUSES = ("active", "fulfilled", "cancelled", "expired")

# --- payments --------------------------------------------------------------------

TRANSACTION_STATUSES = (
    "pending", "processing", "completed", "failed", "partially_refunded", "refunded",
)
TRANSACTION_KINDS = ("booking_payment", "wallet_topup")
PAYMENT_METHODS = ("wallet", "sslcommerz")
REFUND_STATUSES = ("pending", "processing", "completed", "failed")
# The payment gateways an admin can configure.
GATEWAYS = ("sslcommerz",)

# --- reconciliation ----------------------------------------------------------------

DISCREPANCY_SEVERITIES = ("low", "medium", "high", "critical")
# What a finding is about (reconciliation_discrepancies.entity_type).
DISCREPANCY_ENTITY_TYPES = ("wallet", "ledger_entry", "transaction", "refund", "booking")
