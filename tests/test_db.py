"""The SQLite backend's machinery: pragmas, BEGIN IMMEDIATE, the writer queue, the write
guard, checkpoints. (tests/test_postgres.py is the PostgreSQL backend's.)"""
import fcntl
import os
import sqlite3
import threading
import time

import pytest

from app.db import connect, get_db, transaction

pytestmark = pytest.mark.sqlite_only


def test_connection_pragmas_are_read_back(db):
    assert db.execute("PRAGMA journal_mode").fetchone()["journal_mode"] == "wal"
    assert db.execute("PRAGMA foreign_keys").fetchone()["foreign_keys"] == 1
    assert db.execute("PRAGMA busy_timeout").fetchone()["timeout"] == 5000
    assert db.execute("PRAGMA synchronous").fetchone()["synchronous"] == 1  # NORMAL
    assert db.isolation_level is None  # explicit transactions only


def test_synchronous_is_configurable(tmp_path):
    conn = connect(str(tmp_path / "x.sqlite3"), synchronous="FULL")
    assert conn.execute("PRAGMA synchronous").fetchone()["synchronous"] == 2
    conn.close()


def test_request_connection_has_the_same_pragmas(app):
    with app.app_context():
        conn = get_db()
        assert conn.execute("PRAGMA foreign_keys").fetchone()["foreign_keys"] == 1
        assert conn.execute("PRAGMA journal_mode").fetchone()["journal_mode"] == "wal"
        assert get_db() is conn  # one connection per thread, reused


def test_transaction_commits(db):
    with transaction(db):
        db.execute("INSERT INTO job_runs (job_name, started_at, status) VALUES ('x', 't', 'running')")
    assert db.execute("SELECT count(*) AS n FROM job_runs").fetchone()["n"] == 1


def test_transaction_rolls_back_on_error(db):
    with pytest.raises(ZeroDivisionError):
        with transaction(db):
            db.execute("INSERT INTO job_runs (job_name, started_at, status) VALUES ('x', 't', 'running')")
            1 / 0
    assert db.execute("SELECT count(*) AS n FROM job_runs").fetchone()["n"] == 0
    assert not db.in_transaction


def test_transaction_refuses_to_nest(db):
    with transaction(db):
        with pytest.raises(RuntimeError):
            with transaction(db):
                pass


def test_transaction_takes_the_write_lock_up_front(app, db):
    """BEGIN IMMEDIATE: a second writer waits (busy_timeout) instead of failing later."""
    other = connect(app.config["DATABASE"], busy_timeout_ms=50)
    with transaction(db):
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
    other.close()


def test_waiting_writer_gets_the_lock_once_released(app, db):
    other = connect(app.config["DATABASE"], busy_timeout_ms=5000)
    done = threading.Event()

    def second_writer():
        with transaction(other):
            other.execute("INSERT INTO job_runs (job_name, started_at, status) VALUES ('b', 't', 'running')")
        done.set()

    with transaction(db):
        db.execute("INSERT INTO job_runs (job_name, started_at, status) VALUES ('a', 't', 'running')")
        thread = threading.Thread(target=second_writer)
        thread.start()
        assert not done.wait(0.2)  # blocked behind our lock
    thread.join(5)
    assert done.is_set()
    names = [r["job_name"] for r in db.execute("SELECT job_name FROM job_runs ORDER BY id")]
    assert names == ["a", "b"]
    other.close()


def test_rows_are_dicts(db):
    assert db.execute("SELECT 1 AS one").fetchone() == {"one": 1}


def _queued(app, busy_timeout_ms=5000):
    """A connection whose writers wait in the writer queue, as in a gunicorn worker."""
    return connect(app.config["DATABASE"], busy_timeout_ms=busy_timeout_ms, writer_queue=True)


@pytest.fixture
def queued_db(app):
    conn = _queued(app)
    yield conn
    conn.close()


def _queue_is_free(database):
    """True when nobody holds the writer-queue flock of ``database``."""
    fd = os.open(f"{os.path.abspath(database)}.writer.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def test_writer_queue_is_held_only_inside_a_transaction(app, queued_db):
    db, database = queued_db, app.config["DATABASE"]
    with transaction(db):
        assert not _queue_is_free(database)
    assert _queue_is_free(database)
    with pytest.raises(ZeroDivisionError):
        with transaction(db):
            1 / 0
    assert _queue_is_free(database)  # released after a rollback too


def test_queued_writer_still_times_out_as_database_locked(app, queued_db):
    """After busy_timeout in the queue, SQLite's own timeout decides: 'locked' (a 503), no hang."""
    other = _queued(app, busy_timeout_ms=100)
    with transaction(queued_db):
        started = time.monotonic()
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            with transaction(other):
                pass
        assert time.monotonic() - started < 2
    assert not other.in_transaction
    with transaction(other):  # and the queue is usable again once the lock is free
        other.execute("INSERT INTO job_runs (job_name, started_at, status) VALUES ('c', 't', 'running')")
    other.close()


def test_in_memory_database_has_no_writer_queue():
    conn = connect(":memory:", writer_queue=True)
    with transaction(conn):
        conn.execute("CREATE TABLE t (x INTEGER)")
    assert conn.writer_queue is None
    conn.close()


# --- the SQLITE_WRITER_QUEUE setting ----------------------------------------------------

def test_writer_queue_is_off_by_default(app, db, client):
    """The scheduler, CLI commands and tests write without the queue: no lock file appears."""
    assert app.config["SQLITE_WRITER_QUEUE"] is False and db.writer_queue is None
    with transaction(db):
        db.execute("INSERT INTO job_runs (job_name, started_at, status) VALUES ('o', 't', 'running')")
    assert client.post("/api/auth/register", json=REGISTER).status_code == 201
    assert not os.path.exists(app.config["DATABASE"] + ".writer.lock")


def test_writer_queue_setting_gives_request_connections_the_queue(app, client):
    app.config["SQLITE_WRITER_QUEUE"] = True  # read when the request connection opens
    assert client.post("/api/auth/register", json=REGISTER).status_code == 201
    with app.app_context():
        assert get_db().writer_queue.lock_path == app.config["DATABASE"] + ".writer.lock"
    assert os.path.exists(app.config["DATABASE"] + ".writer.lock")


@pytest.mark.parametrize("value", ["1", "yes", '"true"'])
def test_writer_queue_setting_must_be_true_or_false(monkeypatch, tmp_path, value):
    from app import create_app
    from app.config import ConfigError

    monkeypatch.setenv("RAPIDCARE_SQLITE_WRITER_QUEUE", value)
    with pytest.raises(ConfigError):
        create_app({"ENV": "development", "DATABASE": str(tmp_path / "x.sqlite3")})


@pytest.mark.parametrize("env, queued", [({}, True), ({"RAPIDCARE_SQLITE_WRITER_QUEUE": "false"}, False)])
def test_gunicorn_workers_queue_their_writers_unless_the_operator_says_no(
        tmp_path, monkeypatch, env, queued):
    import requests

    from tests.live_server import LiveServer

    monkeypatch.delenv("RAPIDCARE_SQLITE_WRITER_QUEUE", raising=False)
    with LiveServer(tmp_path, workers=1, env=env) as server:
        response = requests.post(server.url + "/api/auth/register", json=REGISTER, timeout=30)
        assert response.status_code == 201, response.text
        assert os.path.exists(server.database + ".writer.lock") is queued


REGISTER = {"name": "Queue Tester", "email": "queue@example.test", "password": "long-enough-1"}


# --- exactly one way to write: the write guard ------------------------------------------

INSERT_RUN = "INSERT INTO job_runs (job_name, started_at, status) VALUES ('g', 't', 'running')"


@pytest.fixture
def guarded(app):
    conn = connect(app.config["DATABASE"], write_guard=True)
    yield conn
    conn.close()


@pytest.mark.parametrize("sql", [
    INSERT_RUN,
    "UPDATE job_runs SET status = 'failed'",
    "DELETE FROM job_runs",
    "CREATE TABLE stray (x INTEGER)",
    "CREATE INDEX stray_idx ON job_runs (status)",
    "DROP TABLE job_runs",
    "ALTER TABLE job_runs ADD COLUMN stray INTEGER",
    "CREATE TEMP TABLE stray (x INTEGER)",
    "ANALYZE",
])
def test_a_write_outside_transaction_is_refused(guarded, db, sql):
    with transaction(db):
        db.execute(INSERT_RUN)
    with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
        guarded.execute(sql)
    assert db.execute("SELECT count(*) AS n FROM job_runs").fetchone()["n"] == 1
    assert guarded.execute("SELECT name FROM sqlite_schema WHERE name LIKE 'stray%'").fetchall() == []


def test_writes_inside_transaction_work_and_the_guard_closes_after_it(guarded):
    with transaction(guarded):
        guarded.execute(INSERT_RUN)
        guarded.execute("UPDATE job_runs SET status = 'failed'")
    with pytest.raises(ZeroDivisionError):
        with transaction(guarded):
            1 / 0
    with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
        guarded.execute("DELETE FROM job_runs")  # never prepared inside: refused
    assert guarded.execute("SELECT status FROM job_runs").fetchall() == [{"status": "failed"}]


def test_reads_are_unaffected_by_the_guard(guarded, db):
    with transaction(db):
        db.execute(INSERT_RUN)
    assert guarded.execute("SELECT job_name FROM job_runs").fetchall() == [{"job_name": "g"}]
    # table-valued functions and FTS5 make SQLite report schema-table writes while
    # it prepares a plain SELECT
    assert guarded.execute("SELECT value FROM json_each('[1, 2]')").fetchall() == [
        {"value": 1}, {"value": 2}]
    fts = [r["name"] for r in guarded.execute(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND sql LIKE '%fts5%'")]
    assert fts, "the schema has an FTS5 table"
    guarded.execute(f"SELECT count(*) FROM {fts[0]} WHERE {fts[0]} MATCH 'x'").fetchall()
    guarded.execute("PRAGMA wal_checkpoint(PASSIVE)")  # pragmas are not writes


def test_the_migrators_table_is_the_one_named_exception(app):
    from app import migrator

    with app.app_context():
        conn = get_db()
        with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
            conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER)")
        assert migrator.status(conn, app.config["MIGRATIONS_DIR"])  # ensure_table, then reads


def test_request_connections_are_guarded_and_others_are_not(app, db):
    with app.app_context():
        conn = get_db()
        with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
            conn.execute(INSERT_RUN)
    db.execute(INSERT_RUN)  # a connection of one's own (tests arranging data) is not


# --- checkpoints after the response -------------------------------------------------------

def _profile_updates(app, client, make, n):
    """n write requests (one commit each); returns the SQL the request connection ran and,
    per request, whether a checkpoint had run before / after its response was closed."""
    import app.db as db_module

    headers = make.auth(make.user())
    client.get("/api/auth/profile", headers=headers)  # opens this thread's connection
    statements, checkpointed = [], []
    db_module._local.conn.set_trace_callback(statements.append)
    for i in range(n):
        start = len(statements)
        response = client.put("/api/auth/profile", json={"name": f"Name {i}"}, headers=headers)
        assert response.status_code == 200, response.json
        answered = CHECKPOINT in statements[start:]
        response.close()  # the server closing the response: call_on_close hooks run
        checkpointed.append((answered, CHECKPOINT in statements[start:]))
    db_module._local.conn.set_trace_callback(None)
    return statements, checkpointed


CHECKPOINT = "PRAGMA wal_checkpoint(PASSIVE)"


def test_request_connection_checkpoints_after_every_n_commits_once_answered(app, client, make):
    app.config["SQLITE_CHECKPOINT_COMMITS"] = 3  # read when the request connection opens
    statements, checkpointed = _profile_updates(app, client, make, 7)
    # never before the answer is complete; after the 3rd and the 6th request's
    assert checkpointed == [(False, False)] * 2 + [(False, True)] + [(False, False)] * 2 + [
        (False, True), (False, False)]
    commits = [i for i, sql in enumerate(statements) if sql == "COMMIT"]
    checkpoints = [i for i, sql in enumerate(statements) if sql == CHECKPOINT]
    assert len(commits) == 7
    # after the 3rd and the 6th commit, each after its own request's COMMIT
    assert len(checkpoints) == 2
    assert commits[2] < checkpoints[0] < commits[3] and commits[5] < checkpoints[1] < commits[6]
    with app.app_context():
        conn = get_db()
        # SQLite's own checkpoint only as a backstop, far beyond its default of 1000 pages
        assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()["wal_autocheckpoint"] == 10_000


def test_zero_leaves_checkpoints_to_sqlite(app, client, make):
    app.config["SQLITE_CHECKPOINT_COMMITS"] = 0
    statements, _ = _profile_updates(app, client, make, 4)
    assert CHECKPOINT not in statements
    with app.app_context():
        assert get_db().execute("PRAGMA wal_autocheckpoint").fetchone()["wal_autocheckpoint"] == 1000


@pytest.mark.parametrize("value", ["-1", "many", "2.5", "true"])
def test_checkpoint_commits_must_be_a_whole_number(monkeypatch, tmp_path, value):
    from app import create_app
    from app.config import ConfigError

    monkeypatch.setenv("RAPIDCARE_SQLITE_CHECKPOINT_COMMITS", value)
    with pytest.raises(ConfigError):
        create_app({"ENV": "development", "DATABASE": str(tmp_path / "x.sqlite3")})


# --- how a writer waits for the queue ---------------------------------------------------

def _hold_queue(database, seconds, ready):
    """Another process holds the writer queue for ``seconds``."""
    fd = os.open(f"{os.path.abspath(database)}.writer.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    ready.set()
    time.sleep(seconds)
    os.close(fd)


def test_main_thread_writer_blocks_until_the_queue_is_handed_over(app, queued_db):
    import multiprocessing
    import signal

    context = multiprocessing.get_context("fork")
    ready = context.Event()
    holder = context.Process(target=_hold_queue, args=(app.config["DATABASE"], 0.3, ready))
    holder.start()
    assert ready.wait(5)
    started = time.monotonic()
    with transaction(queued_db):  # the main thread: blocks in flock(), no SIGALRM left behind
        waited = time.monotonic() - started
        queued_db.execute("INSERT INTO job_runs (job_name, started_at, status) VALUES ('m', 't', 'running')")
    holder.join(5)
    assert 0.15 < waited < 2
    assert signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, None)
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_main_thread_wait_ends_at_busy_timeout_and_restores_the_alarm_handler(app, queued_db):
    import signal

    def mine(signum, frame):
        pass

    previous = signal.signal(signal.SIGALRM, mine)
    try:
        other = _queued(app, busy_timeout_ms=150)
        with transaction(queued_db):
            started = time.monotonic()
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                with transaction(other):  # 150 ms in the queue, then 150 ms in SQLite
                    pass
            assert 0.2 < time.monotonic() - started < 2
        assert signal.getsignal(signal.SIGALRM) is mine
        assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
        with transaction(other):  # the queue works again once free
            other.execute("INSERT INTO job_runs (job_name, started_at, status) VALUES ('n', 't', 'running')")
        other.close()
    finally:
        signal.signal(signal.SIGALRM, previous)


def test_a_running_interval_timer_is_left_alone(app, queued_db):
    """Someone else's ITIMER_REAL: the writer polls instead of taking over the timer."""
    import signal

    fired = []
    previous = signal.signal(signal.SIGALRM, lambda *_: fired.append(True))
    signal.setitimer(signal.ITIMER_REAL, 30)
    try:
        other = _queued(app, busy_timeout_ms=100)
        with transaction(queued_db):
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                with transaction(other):
                    pass
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 25 < remaining <= 30 and not fired  # still armed, untouched
        other.close()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# A SIGALRM handler installed outside Python. Python records the handlers it finds
# when its _signal module is executed (getsignal() then answers None for a foreign
# one), so the script re-executes that module after installing the handler with
# libc: the state of a process whose host installed it before Python started. The
# handler is libc's srand(): a harmless C function of one int.
FOREIGN_ALARM_HANDLER_SCRIPT = r"""
import ctypes, fcntl, importlib.util, os, signal, sys, threading
from app.db import connect, transaction

libc = ctypes.CDLL(None)
libc.signal.restype = ctypes.c_void_p
libc.signal.argtypes = [ctypes.c_int, ctypes.c_void_p]
foreign = ctypes.cast(libc.srand, ctypes.c_void_p).value
libc.signal(signal.SIGALRM, foreign)
spec = importlib.util.find_spec("_signal")
spec.loader.exec_module(spec.loader.create_module(spec))
assert signal.getsignal(signal.SIGALRM) is None, signal.getsignal(signal.SIGALRM)

database = sys.argv[1]
conn = connect(database, busy_timeout_ms=300, writer_queue=True)
with transaction(conn):
    conn.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
holder = os.open(database + ".writer.lock", os.O_RDWR | os.O_CREAT)
fcntl.flock(holder, fcntl.LOCK_EX)  # another open file: the writer below must queue
threading.Timer(0.1, os.close, (holder,)).start()
with transaction(conn):
    conn.execute("INSERT INTO t VALUES (1)")

still = libc.signal(signal.SIGALRM, foreign)  # returns the handler in place
assert still == foreign, (still, foreign)
assert signal.getsignal(signal.SIGALRM) is None
os.kill(os.getpid(), signal.SIGALRM)  # the default action would end the process here
print("survived")
"""


def test_writer_queue_never_replaces_a_sigalrm_handler_installed_outside_python(tmp_path):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", FOREIGN_ALARM_HANDLER_SCRIPT, str(tmp_path / "foreign.sqlite3")],
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0 and "survived" in result.stdout, (result.returncode, result.stderr)
