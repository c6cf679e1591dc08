import fcntl
import os
import sqlite3
import threading
import time

import pytest

from app.db import connect, get_db, transaction


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


def test_writer_queue_is_held_only_inside_a_transaction(app, db):
    database = app.config["DATABASE"]
    with transaction(db):
        assert not _queue_is_free(database)
    assert _queue_is_free(database)
    with pytest.raises(ZeroDivisionError):
        with transaction(db):
            1 / 0
    assert _queue_is_free(database)  # released after a rollback too


def test_queued_writer_still_times_out_as_database_locked(app, db):
    """After busy_timeout in the queue, SQLite's own timeout decides: 'locked' (a 503), no hang."""
    other = connect(app.config["DATABASE"], busy_timeout_ms=100)
    with transaction(db):
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
    conn = connect(":memory:")
    with transaction(conn):
        conn.execute("CREATE TABLE t (x INTEGER)")
    assert conn.writer_lock_path is None
    conn.close()
