"""Hospital profile: licence number, facilities, operating hours, emergency contact (issue #16).

- ``license_number``: the health authority's registration of the hospital. Optional
  at registration, required before an admin approves; unique among hospitals that
  have one (two hospitals cannot claim one licence).
- ``facilities``: a JSON list of short names ("pharmacy", "ambulance"), like
  ``specialties``; searchable like them.
- ``operating_hours``: free text ("24/7", "Sat-Thu 08:00-20:00").
- ``emergency_contact``: the phone number to call in an emergency.

Search covers facilities too. SQLite: an FTS5 table cannot gain a column, so
``hospitals_fts`` is dropped and created again with ``facilities``, rebuilt from
``hospitals`` (its external content), and its three triggers recreated to feed the
new column. PostgreSQL: a generated column cannot be redefined in place, so
``search_vector`` is dropped (its GIN index with it) and added again over the
facilities as well; adding it computes it for every existing row.
"""

FTS_COLUMNS = "name, address, city, specialties, facilities"

SQLITE = [
    """
    ALTER TABLE hospitals ADD COLUMN license_number TEXT
        CHECK (license_number IS NULL OR length(license_number) BETWEEN 1 AND 100)
    """,
    """
    ALTER TABLE hospitals ADD COLUMN facilities TEXT NOT NULL DEFAULT '[]'
        CHECK (json_valid(facilities))
    """,
    """
    ALTER TABLE hospitals ADD COLUMN operating_hours TEXT
        CHECK (operating_hours IS NULL OR length(operating_hours) <= 200)
    """,
    """
    ALTER TABLE hospitals ADD COLUMN emergency_contact TEXT
        CHECK (emergency_contact IS NULL OR length(emergency_contact) <= 32)
    """,
    """
    CREATE UNIQUE INDEX idx_hospitals_license_number ON hospitals (license_number)
        WHERE license_number IS NOT NULL
    """,
    "DROP TRIGGER hospitals_after_insert_fts",
    "DROP TRIGGER hospitals_after_update_fts",
    "DROP TRIGGER hospitals_after_delete_fts",
    "DROP TABLE hospitals_fts",
    f"""
    CREATE VIRTUAL TABLE hospitals_fts USING fts5 (
        {FTS_COLUMNS},
        content = 'hospitals', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2'
    )
    """,
    "INSERT INTO hospitals_fts (hospitals_fts) VALUES ('rebuild')",
    f"""
    CREATE TRIGGER hospitals_after_insert_fts
    AFTER INSERT ON hospitals
    BEGIN
        INSERT INTO hospitals_fts (rowid, {FTS_COLUMNS})
        VALUES (NEW.id, NEW.name, NEW.address, NEW.city, NEW.specialties, NEW.facilities);
    END
    """,
    f"""
    CREATE TRIGGER hospitals_after_update_fts
    AFTER UPDATE OF {FTS_COLUMNS} ON hospitals
    BEGIN
        INSERT INTO hospitals_fts (hospitals_fts, rowid, {FTS_COLUMNS})
        VALUES ('delete', OLD.id, OLD.name, OLD.address, OLD.city, OLD.specialties, OLD.facilities);
        INSERT INTO hospitals_fts (rowid, {FTS_COLUMNS})
        VALUES (NEW.id, NEW.name, NEW.address, NEW.city, NEW.specialties, NEW.facilities);
    END
    """,
    f"""
    CREATE TRIGGER hospitals_after_delete_fts
    AFTER DELETE ON hospitals
    BEGIN
        INSERT INTO hospitals_fts (hospitals_fts, rowid, {FTS_COLUMNS})
        VALUES ('delete', OLD.id, OLD.name, OLD.address, OLD.city, OLD.specialties, OLD.facilities);
    END
    """,
]

POSTGRES = [
    """
    ALTER TABLE hospitals
        ADD COLUMN license_number text
            CHECK (license_number IS NULL OR length(license_number) BETWEEN 1 AND 100),
        ADD COLUMN facilities jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(facilities) = 'array'),
        ADD COLUMN operating_hours text
            CHECK (operating_hours IS NULL OR length(operating_hours) <= 200),
        ADD COLUMN emergency_contact text
            CHECK (emergency_contact IS NULL OR length(emergency_contact) <= 32)
    """,
    """
    CREATE UNIQUE INDEX idx_hospitals_license_number ON hospitals (license_number)
        WHERE license_number IS NOT NULL
    """,
    "ALTER TABLE hospitals DROP COLUMN search_vector",
    """
    ALTER TABLE hospitals ADD COLUMN search_vector tsvector
        GENERATED ALWAYS AS (to_tsvector('simple', rapidcare_unaccent(
            name || ' ' || address || ' ' || coalesce(city, '') || ' '
            || specialties::text || ' ' || facilities::text))) STORED
    """,
    "CREATE INDEX idx_hospitals_search ON hospitals USING gin (search_vector)",
]

# Undo (`flask db downgrade`): the four columns go, and with them what hospitals entered
# there. Search as migration 0001 made it: SQLite, the FTS5 table and its triggers over
# four columns, rebuilt from hospitals (the triggers go first: SQLite drops a column
# only when no trigger or index names it); PostgreSQL, search_vector over four columns
# (dropped first, as it is computed from facilities).
FTS_COLUMNS_BEFORE = "name, address, city, specialties"

SQLITE_DOWN = [
    "DROP TRIGGER hospitals_after_insert_fts",
    "DROP TRIGGER hospitals_after_update_fts",
    "DROP TRIGGER hospitals_after_delete_fts",
    "DROP TABLE hospitals_fts",
    "DROP INDEX idx_hospitals_license_number",
    "ALTER TABLE hospitals DROP COLUMN emergency_contact",
    "ALTER TABLE hospitals DROP COLUMN operating_hours",
    "ALTER TABLE hospitals DROP COLUMN facilities",
    "ALTER TABLE hospitals DROP COLUMN license_number",
    f"""
    CREATE VIRTUAL TABLE hospitals_fts USING fts5 (
        {FTS_COLUMNS_BEFORE},
        content = 'hospitals', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2'
    )
    """,
    "INSERT INTO hospitals_fts (hospitals_fts) VALUES ('rebuild')",
    """
    CREATE TRIGGER hospitals_after_insert_fts
    AFTER INSERT ON hospitals
    BEGIN
        INSERT INTO hospitals_fts (rowid, name, address, city, specialties)
        VALUES (NEW.id, NEW.name, NEW.address, NEW.city, NEW.specialties);
    END
    """,
    """
    CREATE TRIGGER hospitals_after_update_fts
    AFTER UPDATE OF name, address, city, specialties ON hospitals
    BEGIN
        INSERT INTO hospitals_fts (hospitals_fts, rowid, name, address, city, specialties)
        VALUES ('delete', OLD.id, OLD.name, OLD.address, OLD.city, OLD.specialties);
        INSERT INTO hospitals_fts (rowid, name, address, city, specialties)
        VALUES (NEW.id, NEW.name, NEW.address, NEW.city, NEW.specialties);
    END
    """,
    """
    CREATE TRIGGER hospitals_after_delete_fts
    AFTER DELETE ON hospitals
    BEGIN
        INSERT INTO hospitals_fts (hospitals_fts, rowid, name, address, city, specialties)
        VALUES ('delete', OLD.id, OLD.name, OLD.address, OLD.city, OLD.specialties);
    END
    """,
]

POSTGRES_DOWN = [
    "ALTER TABLE hospitals DROP COLUMN search_vector",  # its GIN index goes with it
    "DROP INDEX idx_hospitals_license_number",
    """
    ALTER TABLE hospitals
        DROP COLUMN emergency_contact,
        DROP COLUMN operating_hours,
        DROP COLUMN facilities,
        DROP COLUMN license_number
    """,
    """
    ALTER TABLE hospitals ADD COLUMN search_vector tsvector
        GENERATED ALWAYS AS (to_tsvector('simple', rapidcare_unaccent(
            name || ' ' || address || ' ' || coalesce(city, '') || ' '
            || specialties::text))) STORED
    """,
    "CREATE INDEX idx_hospitals_search ON hospitals USING gin (search_vector)",
]
