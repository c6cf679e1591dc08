"""The PostgreSQL backend's own machinery: placeholders, result types, SERIALIZABLE
transactions, the request retry after a serialization conflict, the pool."""
import threading
import time
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from app.db import get_db, postgres, transaction
from app.db.postgres import translate
from app.timeutil import to_iso

pytestmark = pytest.mark.postgres_only


@pytest.mark.parametrize("sql, expected", [
    ("SELECT * FROM t WHERE a = ? AND b = ?", "SELECT * FROM t WHERE a = %s AND b = %s"),
    ("SELECT :name, :other_1", "SELECT %(name)s, %(other_1)s"),
    ("SELECT x::text, '50%' WHERE y LIKE '%?%'", "SELECT x::text, '50%%' WHERE y LIKE '%%?%%'"),
    ("SELECT 'it''s :not ?' -- a comment's ? and :x\n, ?", "SELECT 'it''s :not ?' -- a comment's ? and :x\n, %s"),
    ('SELECT "odd?col" FROM t WHERE v = 5 % 2', 'SELECT "odd?col" FROM t WHERE v = 5 %% 2'),
])
def test_placeholders_are_translated_outside_strings_comments_and_casts(sql, expected):
    assert translate(sql) == expected


def test_values_come_back_as_on_sqlite(db):
    row = db.execute(
        "SELECT ?::timestamptz AS moment, DATE '2026-12-02' AS day, ?::jsonb AS doc, ? AS text,"
        " ? IS NULL AS unset, TRUE AS flag",
        ("2026-12-02T10:00:00.5+06:00", '{"b": 1, "a": [2]}', "50% off", None),
    ).fetchone()
    assert row == {"moment": "2026-12-02T04:00:00.500000+00:00", "day": "2026-12-02",
                   "doc": '{"a": [2], "b": 1}', "text": "50% off", "unset": True, "flag": True}
    assert row["flag"] == 1  # booleans compare equal to SQLite's 0/1


@pytest.mark.parametrize("moment", [
    datetime(2026, 12, 4, 16, 5, 55, 123456, tzinfo=timezone.utc),
    datetime(2026, 12, 4, 16, 5, 55, tzinfo=timezone.utc),           # no fraction printed
    datetime(2026, 12, 4, 16, 5, 55, 500000, tzinfo=timezone.utc),   # printed as .5
    datetime(2026, 12, 4, 16, 5, 55, 120, tzinfo=timezone.utc),      # .00012
    datetime(1, 1, 1, tzinfo=timezone.utc),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc),
    datetime(2026, 3, 1, 5, 0, tzinfo=timezone(timedelta(hours=6))),
])
def test_a_timestamptz_comes_back_as_to_iso_writes_it(db, moment):
    """The loader rewrites PostgreSQL's text instead of parsing it (app/db/postgres.py)."""
    assert db.execute("SELECT CAST(? AS timestamptz) AS t", (to_iso(moment),)
                      ).fetchone()["t"] == to_iso(moment)


def test_a_timestamptz_python_cannot_hold_is_still_refused(db):
    with pytest.raises(psycopg.DataError):
        db.execute("SELECT CAST('10000-01-01 00:00:00+00' AS timestamptz) AS t").fetchone()


def test_transaction_is_serializable_and_rolls_back(db):
    with transaction(db):
        level = db.execute("SHOW transaction_isolation").fetchone()["transaction_isolation"]
        db.execute("INSERT INTO job_runs (job_name, started_at, status) VALUES ('x', now(), 'running')")
    assert level == "serializable"
    with pytest.raises(ZeroDivisionError):
        with transaction(db):
            db.execute("INSERT INTO job_runs (job_name, started_at, status) VALUES ('y', now(), 'running')")
            raise ZeroDivisionError
    assert [r["job_name"] for r in db.execute("SELECT job_name FROM job_runs")] == ["x"]
    assert not db.in_transaction


def test_transaction_does_not_nest(db):
    with transaction(db):
        with pytest.raises(RuntimeError, match="does not nest"):
            with transaction(db):
                pass


def _conflict_inside(app, conn_a, conn_b):
    """Make conn_b's transaction lose a serialization conflict to conn_a's."""
    with transaction(conn_a):
        conn_a.execute("SELECT count(*) FROM job_runs").fetchone()
        with transaction(conn_b):
            conn_b.execute("SELECT count(*) FROM job_runs").fetchone()
            conn_b.execute("INSERT INTO job_runs (job_name, started_at, status) VALUES ('b', now(), 'running')")
        conn_a.execute("INSERT INTO job_runs (job_name, started_at, status) VALUES ('a', now(), 'running')")


def test_write_skew_is_refused_with_a_serialization_failure(app, db):
    other = postgres.connect(app.config["DATABASE_URL"], app.config)
    try:
        with pytest.raises(psycopg.errors.SerializationFailure):
            _conflict_inside(app, db, other)
    finally:
        other.close()
    # the winner's row only: the loser committed nothing
    assert [r["job_name"] for r in db.execute("SELECT job_name FROM job_runs")] == ["b"]


@pytest.mark.own_app
def test_a_request_that_lost_a_conflict_runs_again(app, db):
    """The view loses a real serialization conflict on its first attempt; the retry commits."""
    attempts = []
    other = postgres.connect(app.config["DATABASE_URL"], app.config)

    @app.post("/test/conflicted-write")
    def conflicted_write():
        conn = get_db()
        attempts.append(1)
        with transaction(conn):
            conn.execute("SELECT count(*) FROM job_runs").fetchone()
            if len(attempts) == 1:  # a concurrent writer commits a conflicting change meanwhile
                with transaction(other):
                    other.execute("SELECT count(*) FROM job_runs").fetchone()
                    other.execute("INSERT INTO job_runs (job_name, started_at, status)"
                                  " VALUES ('other', now(), 'running')")
            conn.execute("INSERT INTO job_runs (job_name, started_at, status) VALUES ('mine', now(), 'running')")
        return {"attempts": len(attempts)}

    try:
        response = app.test_client().post("/test/conflicted-write")
    finally:
        other.close()
    assert response.status_code == 200, response.json
    assert response.json == {"attempts": 2}
    names = sorted(r["job_name"] for r in db.execute("SELECT job_name FROM job_runs"))
    assert names == ["mine", "other"]


@pytest.mark.own_app
def test_a_conflict_after_a_commit_is_a_503_not_a_rerun(app, db):
    attempts = []
    other = postgres.connect(app.config["DATABASE_URL"], app.config)

    @app.post("/test/commit-then-conflict")
    def commit_then_conflict():
        conn = get_db()
        attempts.append(1)
        with transaction(conn):
            conn.execute("INSERT INTO job_runs (job_name, started_at, status) VALUES ('first', now(), 'running')")
        with transaction(conn):
            conn.execute("SELECT count(*) FROM job_runs WHERE job_name = 'z'").fetchone()
            with transaction(other):
                other.execute("SELECT count(*) FROM job_runs WHERE job_name = 'z'").fetchone()
                other.execute("INSERT INTO job_runs (job_name, started_at, status) VALUES ('z', now(), 'running')")
            conn.execute("INSERT INTO job_runs (job_name, started_at, status) VALUES ('z', now(), 'running')")
        return {}

    try:
        response = app.test_client().post("/test/commit-then-conflict")
    finally:
        other.close()
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"
    assert len(attempts) == 1
    names = sorted(r["job_name"] for r in db.execute("SELECT job_name FROM job_runs"))
    assert names == ["first", "z"]


def test_request_connections_come_from_one_pool_and_go_back(app, client):
    for _ in range(5):
        assert client.get("/api/health").status_code == 200
    [stats] = postgres.pool_stats()
    assert stats["pool_max"] == app.config["POSTGRES_POOL_SIZE"]
    # Nothing still borrowed. A connection the pool is still making counts in pool_size
    # but not yet in pool_available: psycopg_pool grows in the background after an
    # earlier test of this process made a request wait (requests_queued). So wait for
    # that to finish; a connection a request kept would never come back.
    deadline = time.monotonic() + 5
    while stats["pool_size"] != stats["pool_available"] and time.monotonic() < deadline:
        time.sleep(0.05)
        [stats] = postgres.pool_stats()
    assert stats["pool_size"] - stats["pool_available"] == 0, stats


def test_pool_exhaustion_is_a_503(app, client):
    app.config["POSTGRES_POOL_TIMEOUT_SECONDS"] = 0.2
    pool = postgres.pool_for(app.config["DATABASE_URL"], app.config)
    held = [pool.getconn() for _ in range(app.config["POSTGRES_POOL_SIZE"])]
    try:
        response = client.get("/api/hospitals")
    finally:
        for conn in held:
            pool.putconn(conn)
    assert response.status_code == 503 and response.json["message"].startswith("The database is busy")


def test_detailed_health_reports_postgres_facts(client, world):
    body = client.get("/api/health/detailed", headers=world.headers["admin"]).json
    database = body["database"]
    assert database["backend"] == "postgresql"
    assert database["serverVersion"].split(".")[0] >= "15"
    assert database["sizeBytes"] > 0 and database["longRunningTransactions"] == 0
    assert database["pool"]["max"] >= 1 and database["replicas"] == []


def test_statement_timeout_is_applied(app):
    app.config["POSTGRES_STATEMENT_TIMEOUT_MS"] = 50
    conn = postgres.connect(app.config["DATABASE_URL"], app.config)
    try:
        with pytest.raises(psycopg.errors.QueryCanceled):
            conn.execute("SELECT pg_sleep(1)")
    finally:
        conn.close()


def test_parallel_writers_to_different_rows_do_not_wait_for_each_other(app, db):
    """Row locks only: a transaction holding one hospital's resource row does not block
    an update of another hospital's row (SQLite would wait for the whole database)."""
    from tests.factories import Factory

    make = Factory(db)
    first, second = make.hospital(resources={"beds": 5}), make.hospital(resources={"beds": 5})
    holder = postgres.connect(app.config["DATABASE_URL"], app.config)
    done = threading.Event()
    try:
        with transaction(holder):
            holder.execute("UPDATE hospital_resources SET available = available - 1, occupied = occupied + 1"
                           " WHERE hospital_id = ?", (first["id"],))

            def other_writer():
                conn = postgres.connect(app.config["DATABASE_URL"], {**app.config, "POSTGRES_LOCK_TIMEOUT_MS": 2000})
                with transaction(conn):
                    conn.execute("UPDATE hospital_resources SET available = available - 1,"
                                 " occupied = occupied + 1 WHERE hospital_id = ?", (second["id"],))
                conn.close()
                done.set()

            thread = threading.Thread(target=other_writer)
            thread.start()
            assert done.wait(5), "the second hospital's write waited for the first's transaction"
            thread.join()
    finally:
        holder.close()


@pytest.mark.fresh_database  # counts dead rows: earlier tests' deleted rows would add to them
def test_maintenance_analyzes_and_names_tables_autovacuum_is_behind_on(app, db, monkeypatch):
    from app.ops import maintenance
    from app.timeutil import utcnow

    with transaction(db):
        db.execute("INSERT INTO job_runs (job_name, started_at, status)"
                   " SELECT 'x', now(), 'running' FROM generate_series(1, 50)")
    with transaction(db):
        db.execute("DELETE FROM job_runs")
    monkeypatch.setattr(maintenance, "DEAD_ROW_WARN_MIN", 10)
    db.execute("SELECT pg_stat_force_next_flush()")
    report = maintenance.run_maintenance(db, now=utcnow(), config=app.config)
    assert report.startswith("ANALYZE") and "job_runs (50 dead rows)" in report
    analyzed = db.execute("SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'bookings'").fetchone()
    assert analyzed["last_analyze"] is not None


@pytest.mark.own_app
def test_storing_an_idempotent_answer_runs_again_after_a_conflict(app, db, make, monkeypatch):
    """The effect has committed when the answer is stored: a conflict there must not
    turn a done request into a 503; storing is run again (it writes only its own row)."""
    from flask import jsonify

    from app.payments import idempotency

    other = postgres.connect(app.config["DATABASE_URL"], app.config)
    store_calls = []
    real_store = idempotency._store

    def store_losing_a_conflict_once(conn, row_id, status, body):
        store_calls.append(1)
        if len(store_calls) == 1:  # a concurrent writer commits a conflicting change meanwhile
            conn.execute("SELECT count(*) FROM job_runs").fetchone()
            with transaction(other):
                other.execute("SELECT count(*) FROM job_runs").fetchone()
                other.execute("INSERT INTO job_runs (job_name, started_at, status)"
                              " VALUES ('other', now(), 'running')")
            conn.execute("INSERT INTO job_runs (job_name, started_at, status) VALUES ('mine', now(), 'running')")
        return real_store(conn, row_id, status, body)

    monkeypatch.setattr(idempotency, "_store", store_losing_a_conflict_once)
    effects = []

    @app.post("/test/idempotent-effect")
    @idempotency.idempotent
    def idempotent_effect():
        with transaction(get_db()):
            get_db().execute("INSERT INTO job_runs (job_name, started_at, status)"
                             " VALUES ('effect', now(), 'running')")
        effects.append(1)
        response = jsonify({"effects": len(effects)})
        response.status_code = 201
        return response

    headers = {**make.auth(make.user()), "Idempotency-Key": "store-conflict-1"}
    try:
        first = app.test_client().post("/test/idempotent-effect", json={}, headers=headers)
        again = app.test_client().post("/test/idempotent-effect", json={}, headers=headers)
    finally:
        other.close()
    assert first.status_code == 201, first.json
    assert len(store_calls) == 2
    assert again.status_code == 201 and again.headers.get(idempotency.REPLAY_HEADER) == "true"
    assert again.json == first.json == {"effects": 1}
    names = sorted(r["job_name"] for r in db.execute("SELECT job_name FROM job_runs"))
    assert names == ["effect", "other"]  # the lost attempt's write rolled back with it


def test_a_pool_is_per_url_and_pool_settings(app):
    url, config = app.config["DATABASE_URL"], app.config
    pool = postgres.pool_for(url, config)
    assert postgres.pool_for(url, {**config}) is pool
    smaller = postgres.pool_for(url, {**config, "POSTGRES_POOL_SIZE": 1})
    assert smaller is not pool and smaller.max_size == 1
    quicker = postgres.pool_for(url, {**config, "POSTGRES_STATEMENT_TIMEOUT_MS": 1000})
    assert quicker not in (pool, smaller)
    conn = postgres.borrow(url, {**config, "POSTGRES_STATEMENT_TIMEOUT_MS": 1000})
    try:
        assert conn.execute("SHOW statement_timeout").fetchone()["statement_timeout"] == "1s"
    finally:
        conn.close()


@pytest.mark.parametrize("sql, expected", [
    ("SELECT * FROM bookings WHERE id = ?", True),
    ("INSERT INTO t (a, b) VALUES (:a, :b)", True),
    ("SELECT * FROM t WHERE b.approved_at IS NULL AND id = :id", True),  # a column, not a parameter
    ("SELECT * FROM t WHERE (:status IS NULL OR status = :status)", False),
    ("SELECT * FROM t WHERE ? is not null", False),
    ("SELECT * FROM t WHERE x = ? AND (:q\n  IS   NULL OR y = :q)", False),
])
def test_a_statement_is_prepared_only_when_every_parameter_is_typed(sql, expected):
    assert postgres.preparable(sql) is expected


def test_the_statements_every_request_runs_are_planned_once_per_connection(db, make,
                                                                         monkeypatch):
    """Statements whose parameters are all typed are server-side prepared (benchmarks/
    RESULTS.md §0h2, §0m): the token look-up, a booking, a page of bookings, a hospital
    and its live counters among them, and they answer exactly what the client-bound path
    answers."""
    from app.auth import queries as auth_queries
    from app.bookings import queries as booking_queries
    from app.hospitals import queries as hospital_queries
    from app.resources import queries as resource_queries
    from app.timeutil import to_iso, utcnow

    hospital = make.hospital(resources={"beds": 3})
    patient = make.user()
    booking = make.booking(patient, hospital, status="approved")
    make.token(patient)
    token_hash = db.execute("SELECT token_hash FROM api_tokens WHERE user_id = ?",
                            (patient["id"],)).fetchone()["token_hash"]
    now = to_iso(utcnow())
    reads = {
        "FROM api_tokens AS t JOIN users": lambda: auth_queries.get_user_by_token(
            db, token_hash, now),
        "WHERE b.id = $1": lambda: booking_queries.get_booking(db, booking["id"]),
        "ORDER BY b.created_at DESC": lambda: booking_queries.list_bookings(
            db, {"user_id": patient["id"]}, limit=20, offset=0),
        "FROM hospitals AS h WHERE h.id = $1": lambda: hospital_queries.get_hospital(
            db, hospital["id"]),
        "WHERE r.hospital_id = $3) AS live ORDER BY": lambda: resource_queries.list_resources(
            db, hospital["id"], now),
        "WHERE r.hospital_id = $3 AND r.resource_type = $4": lambda: resource_queries.live_resource(
            db, hospital["id"], "beds", now),
    }
    answers = {fragment: read() for fragment, read in reads.items()}
    prepared = [row["statement"] for row in db.execute(
        "SELECT statement FROM pg_prepared_statements").fetchall()]
    for fragment in reads:
        assert any(fragment in " ".join(statement.split()) for statement in prepared), (
            fragment, prepared)
    assert answers["WHERE b.id = $1"]["id"] == booking["id"]
    assert [row["id"] for row in answers["ORDER BY b.created_at DESC"]] == [booking["id"]]
    assert answers["WHERE r.hospital_id = $3 AND r.resource_type = $4"]["held_now"] == 0
    assert answers["FROM api_tokens AS t JOIN users"]["id"] == patient["id"]
    # the same rows, value for value, as the client-bound execute gives
    monkeypatch.setattr(db, "prepare", False)
    assert {fragment: read() for fragment, read in reads.items()} == answers


def test_prepared_statements_can_be_turned_off_for_an_old_pgbouncer(app_config):
    """POSTGRES_PREPARED_STATEMENTS=false binds every statement on the client, so nothing
    is left prepared on the connection; true prepares a typed one, never an untyped one."""
    from app.config import DEFAULTS

    typed = "SELECT count(*) AS n FROM hospitals WHERE id > ?"
    untyped = "SELECT count(*) AS n FROM hospitals WHERE (:city IS NULL OR city = :city)"
    listed = "SELECT statement FROM pg_prepared_statements WHERE statement NOT LIKE '%pg_prepared%'"
    config = {**DEFAULTS, **app_config}
    conn = postgres.connect(config["DATABASE_URL"], {**config, "POSTGRES_PREPARED_STATEMENTS": False})
    try:
        assert conn.execute(typed, (0,)).fetchone()["n"] >= 0
        assert conn.execute(untyped, {"city": None}).fetchone()["n"] >= 0
        assert conn.execute(listed).fetchall() == []
    finally:
        conn.close()
    conn = postgres.connect(config["DATABASE_URL"], config)
    try:
        conn.execute(typed, (0,))
        assert conn.execute(untyped, {"city": None}).fetchone()["n"] == conn.execute(
            untyped, {"city": "Nowhere"}).fetchone()["n"] + conn.execute(
            "SELECT count(*) AS n FROM hospitals WHERE city IS DISTINCT FROM ?",
            ("Nowhere",)).fetchone()["n"]
        statements = [" ".join(row["statement"].split()) for row in conn.execute(listed)]
        assert "SELECT count(*) AS n FROM hospitals WHERE id > $1" in statements
        assert not any("IS NULL" in statement for statement in statements)
    finally:
        conn.close()
