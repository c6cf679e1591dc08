"""Slow statements (issue #19 item 4): logged without their values, counted in /metrics,
listed in detailed health; fast ones are not. On the backend of this run of the suite."""
import json
import logging
import time

import pytest

from app.config import TEST_OVERRIDES, ConfigError, check_config
from app.db import get_db, slow_queries
from tests.ops.test_monitoring_api import samples

THRESHOLD_MS = 200
SECRET = "patient-secret-4711"


@pytest.fixture
def app_config(app_config):
    app_config["SLOW_QUERY_MS"] = THRESHOLD_MS
    return app_config


@pytest.fixture(autouse=True)
def _forget_recent():
    slow_queries.clear_recent()
    yield
    slow_queries.clear_recent()


def slow_statement(conn):
    """A statement that takes 0.3 s, with a literal and a parameter that must not be logged."""
    if conn.dialect == "postgres":
        return "SELECT pg_sleep(0.3), 'literal-secret' AS s, 4711 AS n, ? AS p"
    # SQLite has no sleep: a function of this connection's own
    conn.create_function("rapidcare_test_sleep", 1, time.sleep)
    return "SELECT rapidcare_test_sleep(0.3), 'literal-secret' AS s, 4711 AS n, ? AS p"


def slow_counts(client, admin_headers):
    body = client.get("/metrics", headers=admin_headers).get_data(as_text=True)
    return {dict(labels)["query"]: value for (name, labels), value in samples(body).items()
            if name == "rapidcare_slow_queries_total"}


def test_a_slow_statement_is_logged_counted_and_listed_without_its_values(app, client, make,
                                                                          caplog, backend):
    admin = make.auth(make.admin())
    before = slow_counts(client, admin)
    caplog.set_level(logging.WARNING, logger="rapidcare.slow_query")
    with app.app_context():
        conn = get_db()
        sql = slow_statement(conn)
        conn.execute(sql, (SECRET,)).fetchall()
        conn.execute("SELECT 1 AS fast, ? AS p", (SECRET,)).fetchall()

    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "rapidcare.slow_query"]
    assert len(lines) == 1, lines  # the fast one is not there
    line = lines[0]
    query_id, normalized = slow_queries.normalize(sql)
    assert line["slow_query"] == query_id and line["query"] == normalized
    assert line["backend"] == backend and line["duration_ms"] >= 300
    assert normalized.endswith("(?), ? AS s, ? AS n, ? AS p")
    for value in (SECRET, "literal-secret", "4711"):
        assert value not in caplog.text
    assert "0.3" not in line["query"]  # (the duration may contain it)

    after = slow_counts(client, admin)
    assert after[normalized] == before.get(normalized, 0) + 1
    assert not any("fast" in query for query in after)

    body = client.get("/api/health/detailed", headers=admin).json
    # (detailed health's own reads may be slow too on a loaded machine: listed beside it)
    ours = [row for row in body["slowQueries"] if row["queryId"] == query_id]
    assert len(ours) == 1
    assert ours[0]["query"] == normalized and ours[0]["backend"] == backend
    assert ours[0]["durationMs"] >= 300 and ours[0]["at"]
    assert SECRET not in json.dumps(body)


def test_health_lists_the_slowest_first_and_keeps_a_bounded_list(monkeypatch):
    for i in range(slow_queries.RECENT_MAX + 20):
        slow_queries.record(f"SELECT {i} FROM t{i % 3}", 0.1 + i / 1000, "sqlite")
    listed = slow_queries.slowest_recent()
    assert len(listed) == slow_queries.HEALTH_SHOWN
    durations = [row["duration_ms"] for row in listed]
    assert durations == sorted(durations, reverse=True) and durations[0] == 169.0
    assert len(slow_queries._recent) == slow_queries.RECENT_MAX


def test_threshold_zero_turns_it_off(app, caplog):
    app.config["SLOW_QUERY_MS"] = 0  # restored by the app fixture for the next test
    from app.db import close_db
    close_db()  # the next get_db() opens a connection with the new threshold
    caplog.set_level(logging.WARNING, logger="rapidcare.slow_query")
    with app.app_context():
        conn = get_db()
        conn.execute(slow_statement(conn), (SECRET,)).fetchall()
    assert not [r for r in caplog.records if r.name == "rapidcare.slow_query"]
    assert slow_queries.slowest_recent() == []


@pytest.mark.parametrize("sql, expected", [
    ("SELECT *  FROM users\n WHERE email = 'a@b.c' AND id = 42", "SELECT * FROM users WHERE email = ? AND id = ?"),
    ("UPDATE t SET x = :x WHERE y = ? AND z = %s AND w = %(w)s", "UPDATE t SET x = ? WHERE y = ? AND z = ? AND w = ?"),
    ("SELECT 'it''s', E'\\n', -1.5e3, x::text FROM idx_2", "SELECT ?, ?, -?, x::text FROM idx_2"),
    ('SELECT "col 1" FROM "t""q" WHERE a = 3.14', 'SELECT "col 1" FROM "t""q" WHERE a = ?'),
    ("DO $$ BEGIN PERFORM 'x'; END $$", "DO ?"),
    ("SELECT $tag$secret$tag$, b FROM t", "SELECT ?, b FROM t"),
])
def test_normalize_replaces_every_literal_and_parameter(sql, expected):
    query_id, text = slow_queries.normalize(sql)
    assert text == expected
    assert len(query_id) == 12 and query_id == slow_queries.normalize(" " + sql)[0]


def test_normalized_text_is_bounded():
    _query_id, text = slow_queries.normalize("SELECT " + ", ".join(f"col{i}" for i in range(500)))
    assert len(text) == slow_queries.MAX_QUERY_CHARS


@pytest.mark.parametrize("value", [-1, "100", True, None, [100]])
def test_config_refuses_a_bad_threshold(value):
    with pytest.raises(ConfigError, match="SLOW_QUERY_MS"):
        check_config({**_config(), "SLOW_QUERY_MS": value})


@pytest.mark.parametrize("value", [0, 100, 2.5])
def test_config_accepts_a_threshold(value):
    check_config({**_config(), "SLOW_QUERY_MS": value})


def _config():
    from app.config import DEFAULTS

    return {**DEFAULTS, **TEST_OVERRIDES}
