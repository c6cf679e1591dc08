"""A volunteering donor's phone is sealed like the other personal fields (issue #18 item 1).

blood_donor_matches.phone is how a requester calls a donor back. It was the one
personal value left in plaintext after 0120. Now app.crypto.fields seals it with
AES-256-GCM, bound to its row by a new ``record_key``: a random id drawn before
the INSERT, as blood_requests has. The match's id is only known after its
INSERT, so it cannot be used for that.

- The phone's length CHECK goes (a sealed value is about 70 characters); the API's
  schema still limits what is typed in.
- Existing rows get a random record_key here. Their phones stay readable as legacy
  plaintext until ``flask keys reencrypt`` (README) seals them.
"""

SQLITE = [
    # SQLite cannot drop a column CHECK in place: a plain column takes the column's place
    "ALTER TABLE blood_donor_matches ADD COLUMN phone_sealed TEXT",
    "UPDATE blood_donor_matches SET phone_sealed = phone",
    "ALTER TABLE blood_donor_matches DROP COLUMN phone",
    "ALTER TABLE blood_donor_matches RENAME COLUMN phone_sealed TO phone",
    "ALTER TABLE blood_donor_matches ADD COLUMN record_key TEXT",
    "UPDATE blood_donor_matches SET record_key = lower(hex(randomblob(16)))",
    "CREATE UNIQUE INDEX idx_blood_donor_matches_record_key ON blood_donor_matches (record_key)",
]

POSTGRES = [
    "ALTER TABLE blood_donor_matches DROP CONSTRAINT blood_donor_matches_phone_check",
    "ALTER TABLE blood_donor_matches ADD COLUMN record_key text",
    "UPDATE blood_donor_matches SET record_key = gen_random_uuid()::text",
    "ALTER TABLE blood_donor_matches ALTER COLUMN record_key SET NOT NULL",
    "CREATE UNIQUE INDEX idx_blood_donor_matches_record_key ON blood_donor_matches (record_key)",
]

# No undo: below this migration the phone column holds at most 32 characters, which a
# sealed phone cannot meet, and the database holds no key to open it with.
IRREVERSIBLE = "donor phones are sealed with keys the database does not hold; the CHECK below cannot hold"
