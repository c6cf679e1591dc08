"""Fixtures: one fresh migrated SQLite file per test, the app factory with the test config."""
import os
import tempfile

import pytest

from app import create_app, migrator
from app.config import TEST_OVERRIDES
from app.db import close_db, connect_from_config
from tests import factories

# prometheus_client's multiprocess directory is process-wide and fixed by the first
# app a process builds. Give each test process one directory that outlives every
# test, rather than the first test's tmp_path (deleted later, leaving the counters
# writing into unlinked files). gunicorn started by a test sets its own.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="rapidcare-test-metrics-"))


@pytest.fixture
def app_config(tmp_path):
    """Override keys here (or in a test's own fixture) before the app is built."""
    return {
        **TEST_OVERRIDES,
        "DATABASE": str(tmp_path / "rapidcare-test.sqlite3"),
        "BACKUP_DIR": str(tmp_path / "backups"),
    }


@pytest.fixture
def app(app_config):
    app = create_app(app_config)
    conn = connect_from_config(app.config)
    migrator.upgrade(conn, app.config["MIGRATIONS_DIR"], log=lambda _line: None)
    conn.close()
    yield app
    close_db()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def db(app):
    """A separate connection to the test database, for arranging and asserting."""
    conn = connect_from_config(app.config)
    yield conn
    conn.close()


@pytest.fixture
def make(db):
    """Factories bound to the test database: make.user(...), make.hospital(...), …"""
    return factories.Factory(db)
