"""app.vocabulary and the database's CHECK constraints name the same values.

Landed migrations are frozen, so the sets are written twice: in Python (validators,
the OpenAPI enums, counts per status) and in SQL. These tests read the migrated
schema from sqlite_master, so neither side can change alone.
"""
import re

import pytest

from app import vocabulary as v
from app.auth.guards import ROLES
from app.blood.compatibility import BLOOD_TYPES


def _check_values(db, table, column):
    """The values of every ``CHECK (column IN (...))`` on the table, each as a tuple."""
    sql = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                     (table,)).fetchone()["sql"]
    pattern = rf"CHECK \((?:{column} IS NULL OR )?{column} IN \(([^)]*)\)\)"
    return [tuple(re.findall(r"'([^']*)'", values)) for values in re.findall(pattern, sql)]


@pytest.mark.parametrize("table, column, values", [
    ("users", "role", ROLES),
    ("users", "status", v.USER_STATUSES),
    ("hospitals", "status", v.HOSPITAL_STATUSES),
    ("hospital_resources", "resource_type", v.RESOURCE_TYPES),
    ("hospital_pricing", "resource_type", v.RESOURCE_TYPES),
    ("payment_config", "gateway", v.GATEWAYS),
    ("bookings", "resource_type", v.RESOURCE_TYPES),
    ("bookings", "patient_gender", v.GENDERS),
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


@pytest.mark.parametrize("table", ["bookings", "blood_requests"])
def test_urgency_rank_is_the_generated_column(db, table):
    sql = db.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()["sql"]
    rank_sql = re.search(r"urgency_rank\s+INTEGER NOT NULL GENERATED ALWAYS AS \((.*?)\) STORED",
                         sql, re.DOTALL).group(1)
    computed = {
        urgency: db.execute(f"SELECT {rank_sql} AS rank FROM (SELECT ? AS urgency)",
                            (urgency,)).fetchone()["rank"]
        for urgency in v.URGENCIES
    }
    assert computed == v.URGENCY_RANK


def test_most_urgent_first():
    assert v.URGENCIES_MOST_URGENT_FIRST == ("critical", "high", "medium", "low")
