"""A booking's personal fields sealed together: one AES-GCM value per booking (issue #18 item 7).

Since 0120 each of a booking's eight personal fields (patient name, age, gender,
medical condition, the emergency contact's name, phone and relationship, notes)
was its own sealed value, so a page of 20 bookings opened 160 of them: my-bookings
ran at 81 % of its plaintext speed (benchmarks/RESULTS.md §0g2). They are written
together at creation and never changed one by one, so they are now sealed
together, as one JSON object in the new column ``personal``
(app/crypto/fields.py). The hospital's notes stay a sealed column of their own:
staff write them later, on approval or decline.

- ``personal``: the sealed object; NULL on rows from before this migration.
- The seven old columns that were NOT NULL lose it (``notes`` never had it; SQLite:
  each is swapped for a plain TEXT column holding the same values, the 0120 way; no
  trigger or index names them). New bookings leave all eight NULL. Old rows keep their values there, read as before
  (sealed one by one, or legacy plaintext) until ``flask keys reencrypt`` moves
  them into ``personal`` and clears them. The migration holds no key, so it
  cannot do that move itself.
"""

SWAPPED = ("patient_name", "patient_age", "patient_gender", "medical_condition",
           "emergency_contact_name", "emergency_contact_phone", "emergency_contact_relationship")


def _sqlite_nullable(column):
    return [
        f"ALTER TABLE bookings ADD COLUMN {column}_nullable TEXT",
        f"UPDATE bookings SET {column}_nullable = {column}",
        f"ALTER TABLE bookings DROP COLUMN {column}",
        f"ALTER TABLE bookings RENAME COLUMN {column}_nullable TO {column}",
    ]


SQLITE = [
    "ALTER TABLE bookings ADD COLUMN personal TEXT",
    *[statement for column in SWAPPED for statement in _sqlite_nullable(column)],
]

POSTGRES = [
    "ALTER TABLE bookings ADD COLUMN personal text",
    *[f"ALTER TABLE bookings ALTER COLUMN {column} DROP NOT NULL" for column in SWAPPED],
]

# No undo: the fields of newer bookings exist only inside the sealed object, and the
# database holds no key to take them out again.
IRREVERSIBLE = "newer bookings' personal fields exist only sealed together, with keys the database does not hold"
