"""app.vocabulary and the database's CHECK constraints name the same values.

Landed migrations are frozen, so the sets are written twice: in Python (validators,
the OpenAPI enums, counts per status) and in SQL. These tests read the migrated
schema (SQLite: sqlite_master; PostgreSQL: the catalog's constraint and default
definitions), so neither side can change alone.
"""
import re

import pytest

from app import vocabulary as v
from app.auth.guards import ROLES
from app.blood.compatibility import BLOOD_TYPES


def _check_values(db, table, column):
    """The values of every ``CHECK (column IN (...))`` on the table, each as a tuple."""
    if db.dialect == "postgres":
        return _pg_check_values(db, table, column)
    sql = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                     (table,)).fetchone()["sql"]
    pattern = rf"CHECK \((?:{column} IS NULL OR )?{column} IN \(([^)]*)\)\)"
    return [tuple(re.findall(r"'([^']*)'", values)) for values in re.findall(pattern, sql)]


def _pg_check_values(db, table, column):
    # PostgreSQL prints ``column IN ('a', 'b')`` as ``(column = ANY (ARRAY['a'::text, 'b'::text]))``
    # and a list of one, ``column IN ('a')``, as ``(column = 'a'::text)``
    definitions = [row["definition"] for row in db.execute(
        "SELECT pg_get_constraintdef(oid) AS definition FROM pg_constraint"
        " WHERE conrelid = CAST(? AS regclass) AND contype = 'c' ORDER BY conname", (table,))]
    found = []
    for definition in definitions:
        single = re.fullmatch(rf"CHECK \(\({column} = ('[^']*'::text)\)\)", definition)
        lists = [single.group(1)] if single else re.findall(
            rf"\(+{column} = ANY \(ARRAY\[([^\]]*)\]\)\)", definition)
        found += [tuple(re.findall(r"'([^']*)'::text", values)) for values in lists]
    return found


def _generated_rank_sql(db, table):
    if db.dialect == "postgres":
        return db.execute(
            "SELECT pg_get_expr(d.adbin, d.adrelid) AS expr FROM pg_attrdef AS d"
            " JOIN pg_attribute AS a ON a.attrelid = d.adrelid AND a.attnum = d.adnum"
            " WHERE d.adrelid = CAST(? AS regclass) AND a.attname = 'urgency_rank'", (table,)
        ).fetchone()["expr"]
    sql = db.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()["sql"]
    return re.search(r"urgency_rank\s+INTEGER NOT NULL GENERATED ALWAYS AS \((.*?)\) STORED",
                     sql, re.DOTALL).group(1)


@pytest.mark.parametrize("table, column, values", [
    ("users", "role", ROLES),
    ("users", "status", v.USER_STATUSES),
    ("hospitals", "status", v.HOSPITAL_STATUSES),
    ("hospital_resources", "resource_type", v.RESOURCE_TYPES),
    ("hospital_pricing", "resource_type", v.RESOURCE_TYPES),
    ("payment_config", "gateway", v.GATEWAYS),
    ("bookings", "resource_type", v.RESOURCE_TYPES),
    # bookings.patient_gender: sealed since migration 0120, so no CHECK can see it; the
    # request schema holds the rule (test_gender_is_the_request_schema_rule)
    ("bookings", "urgency", v.URGENCIES),
    ("bookings", "status", v.BOOKING_STATUSES),
    ("transactions", "kind", v.TRANSACTION_KINDS),
    ("transactions", "status", v.TRANSACTION_STATUSES),
    ("transactions", "method", v.PAYMENT_METHODS),
    ("refunds", "method", v.PAYMENT_METHODS),
    ("refunds", "status", v.REFUND_STATUSES),
    ("reconciliation_discrepancies", "severity", v.DISCREPANCY_SEVERITIES),
    ("blood_requests", "urgency", v.URGENCIES),
    ("blood_requests", "status", v.BLOOD_REQUEST_STATUSES),
    ("blood_requests", "blood_type", BLOOD_TYPES),
    ("blood_donor_matches", "donor_blood_type", BLOOD_TYPES),
])
def test_python_values_are_the_check_constraints(db, table, column, values):
    assert _check_values(db, table, column) == [values]


def test_gender_is_the_request_schema_rule():
    from app.bookings.schemas import BookingCreateSchema

    validator = BookingCreateSchema().fields["patient_gender"].validate
    assert tuple(validator.choices) == v.GENDERS


@pytest.mark.parametrize("table", ["bookings", "blood_requests"])
def test_urgency_rank_is_the_generated_column(db, table):
    rank_sql = _generated_rank_sql(db, table)
    computed = {
        urgency: db.execute(f"SELECT {rank_sql} AS rank FROM (SELECT CAST(? AS text) AS urgency) AS given",
                            (urgency,)).fetchone()["rank"]
        for urgency in v.URGENCIES
    }
    assert computed == v.URGENCY_RANK


def test_most_urgent_first():
    assert v.URGENCIES_MOST_URGENT_FIRST == ("critical", "high", "medium", "low")
