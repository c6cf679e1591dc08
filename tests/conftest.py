"""Fixtures: one fresh migrated database per test, the app factory with the test config.

The suite runs on SQLite by default and on PostgreSQL when TEST_DATABASE_URL names
a server's maintenance database (scripts/test runs both halves): each test process
then copies a migrated template database once (CREATE DATABASE … TEMPLATE) and
hands that copy to each of its tests in turn, emptied back to the template's state
after every test (tests.pg.ReusedDatabase; a test that changed the schema gets a
fresh copy). ``backend`` tells a test which.

Two things are built once per test process and reused, because every test paid for
them before (measured: about 0.45 s to build an app, almost all of it flask-smorest
building the OpenAPI document, and about 72 ms to migrate a new database):

- the app, one per distinct configuration: ``app`` builds it on first use and then
  only points it at the test's own DATABASE and BACKUP_DIR and puts back the rest of
  its configuration (tests change ``app.config`` freely);
- a migrated template database, which every test gets its own copy of (0.25 ms).
"""
import logging
import os
import shutil
import tempfile

import pytest

from app import create_app, migrator
from app.config import DEFAULTS, TEST_OVERRIDES, configure_encryption
from app.crypto import fields as crypto_fields
from app.crypto import keys as crypto_keys
from app.db import close_db, connect, connect_from_config, postgres
from tests import factories, pg

# prometheus_client's multiprocess directory is process-wide and fixed by the first
# app a process builds. Give each test process one directory that outlives every
# test, rather than the first test's tmp_path (deleted later, leaving the counters
# writing into unlinked files). gunicorn started by a test sets its own.
# Set, not setdefault: xdist workers inherit the controller's environment, and a
# directory shared by both workers made one worker's requests show up in the other's
# counters (the multiprocess collector sums every file in the directory).
os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix=f"rapidcare-test-metrics-{os.getpid()}-")

# The settings that are per-test paths. Every other setting (and every RAPIDCARE_*
# environment variable) decides which app a test gets, so a test that overrides
# ``app_config`` still gets an app built with its settings.
PER_TEST_KEYS = ("DATABASE", "BACKUP_DIR", "DATABASE_URL")

BACKEND = "postgres" if pg.ADMIN_URL else "sqlite"

# Tests that write or read rows without an app (factories on a bare connection) seal
# and open with the tests' fixed key, as every app built for a test does.
crypto_fields.install(crypto_keys.parse(TEST_OVERRIDES["ENCRYPTION_KEYS"], "tests"))


def pytest_collection_modifyitems(config, items):
    """``@pytest.mark.sqlite_only`` / ``postgres_only``: tests of one backend's machinery;
    ``no_database``: tests that touch no database, run once."""
    for item in items:
        if BACKEND == "postgres" and item.get_closest_marker("sqlite_only"):
            item.add_marker(pytest.mark.skip(reason="SQLite machinery (the SQLite half runs it)"))
        if BACKEND == "postgres" and item.get_closest_marker("no_database"):
            item.add_marker(pytest.mark.skip(reason="touches no database (the SQLite half runs it)"))
        if BACKEND == "sqlite" and item.get_closest_marker("postgres_only"):
            item.add_marker(pytest.mark.skip(reason="PostgreSQL only (set TEST_DATABASE_URL)"))


@pytest.fixture(autouse=True)
def _key_ring_restored():
    """The encryption key ring is process-wide (app.crypto.fields): a test that installs
    another one (rotation) must not leave the next tests in this process with it, even
    when it fails half-way."""
    from app.crypto import fields

    installed = (fields._ring, fields._reload)
    yield
    if (fields._ring, fields._reload) != installed and installed[0] is not None:
        fields.install(*installed)


@pytest.fixture(scope="session")
def backend():
    """"sqlite" or "postgres": the backend this run of the suite is on."""
    return BACKEND


@pytest.fixture
def app_config(request, tmp_path, template_database):
    """Override keys here (or in a test's own fixture) before the app is built."""
    config = {
        **TEST_OVERRIDES,
        "DATABASE": str(tmp_path / "rapidcare-test.sqlite3"),
        "BACKUP_DIR": str(tmp_path / "backups"),
    }
    if BACKEND == "postgres":
        database = _test_database(template_database)
        if request.node.get_closest_marker("fresh_database"):
            database.copy_again()
        config["DATABASE_URL"] = database.url
    yield config
    if BACKEND == "postgres":
        _end_of_test_on_postgres(template_database)


_reused_databases = {}


def _end_of_test_on_postgres(template):
    """The test's database emptied for the next test. The pool of the standard test
    settings stays open (its idle connections are warm for the next test, which uses
    the same database); any other pool a test made is closed."""
    database = _test_database(template)
    close_db()
    postgres.close_pools(keep=postgres.pool_key(database.url, {**DEFAULTS, **TEST_OVERRIDES}))
    database.reset()


def _test_database(template):
    """PostgreSQL: this process's one test database (tests.pg.ReusedDatabase), emptied
    after each test."""
    if template not in _reused_databases:
        _reused_databases[template] = pg.ReusedDatabase(f"{template}_reused", template)
    return _reused_databases[template]


@pytest.fixture(scope="session")
def template_database(tmp_path_factory, worker_id):
    """A database with every migration applied, to be copied, never opened by a test.
    SQLite: a file path; PostgreSQL: a database name."""
    if BACKEND == "postgres":
        name = f"rapidcare_test_{os.getpid()}_{worker_id}".lower()
        url = pg.create_database(name)
        conn = postgres.connect(url, DEFAULTS)
        migrator.upgrade(conn, DEFAULTS["MIGRATIONS_DIR"], log=lambda _line: None)
        conn.close()
        pg.migrated_template = name
        yield name
        pg.migrated_template = None
        if name in _reused_databases:
            _reused_databases.pop(name).drop()
        pg.drop_database(name)
        return
    path = str(tmp_path_factory.mktemp("template") / "template.sqlite3")
    conn = connect(path)
    migrator.upgrade(conn, DEFAULTS["MIGRATIONS_DIR"], log=lambda _line: None)
    conn.close()
    # Closing the last connection checkpoints the WAL into the main file and deletes
    # it: copying that one file then copies everything, with no frames left behind.
    assert not os.path.exists(path + "-wal")
    yield path


def _fresh_database(config, template):
    """A copy of the migrated template at DATABASE; migrations run only where a copy
    would not be the same (another migrations folder, an existing file, :memory:).
    PostgreSQL: app_config made the database from the template already."""
    if config.get("DATABASE_URL"):
        if config["MIGRATIONS_DIR"] != DEFAULTS["MIGRATIONS_DIR"]:
            raise RuntimeError("a test with its own migrations folder runs on SQLite only")
        return
    path = config["DATABASE"]
    if (config["MIGRATIONS_DIR"] == DEFAULTS["MIGRATIONS_DIR"] and path != ":memory:"
            and not os.path.exists(path)):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        shutil.copyfile(template, path)
        return
    conn = connect_from_config(config)
    migrator.upgrade(conn, config["MIGRATIONS_DIR"], log=lambda _line: None)
    conn.close()


@pytest.fixture(scope="session")
def _built_apps():
    """{settings: (app, its configuration as built)} for this test process."""
    return {}


def _shared_app(app_config, built_apps):
    """The app built in this process for these settings, configured as built, on the
    test's own paths."""
    shared = {key: value for key, value in app_config.items() if key not in PER_TEST_KEYS}
    environment = {key: value for key, value in os.environ.items() if key.startswith("RAPIDCARE_")}
    settings = repr((sorted(shared.items()), sorted(environment.items())))
    if settings not in built_apps:
        built = create_app(app_config)
        built_apps[settings] = (built, dict(built.config))
    app, built_config = built_apps[settings]
    app.config.clear()
    app.config.update(built_config)
    app.config.update({key: app_config[key] for key in PER_TEST_KEYS if key in app_config})
    # create_app sets the process-wide log level from LOG_LEVEL and installs the
    # process-wide key ring from the encryption settings; another test since may have
    # set others (_key_ring_restored puts back the ring a test began with, which need
    # not be this app's).
    logging.getLogger("rapidcare").setLevel(app.config["LOG_LEVEL"])
    configure_encryption(app.config)
    return app


@pytest.fixture
def app(request, app_config, template_database, _built_apps):
    """The app for this test; ``@pytest.mark.own_app`` for a test that adds routes or
    other setup to it (Flask refuses those once an app has served a request)."""
    if request.node.get_closest_marker("own_app"):
        app = create_app(app_config)
    else:
        app = _shared_app(app_config, _built_apps)
    _fresh_database(app.config, template_database)
    yield app
    close_db()


@pytest.fixture
def reset_database(app, template_database):
    """A callable that puts the test's database back as it was when the test began, for
    a test that runs many examples (hypothesis): each starts from an empty database."""
    def reset():
        close_db()
        if BACKEND == "postgres":
            _end_of_test_on_postgres(template_database)
            return
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(app.config["DATABASE"] + suffix):
                os.unlink(app.config["DATABASE"] + suffix)
        _fresh_database(app.config, template_database)
    return reset


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def db(app):
    """A separate connection to the test database, for arranging and asserting.
    PostgreSQL: as the owner of the tables, like an operator (row-level security
    does not apply); the app under test runs as the service's role."""
    conn = connect_from_config(app.config, as_owner=True)
    yield conn
    conn.close()


@pytest.fixture
def make(db):
    """Factories bound to the test database: make.user(...), make.hospital(...), …"""
    return factories.Factory(db)


@pytest.fixture
def world(make):
    """The one cast of actors (tests.factories.World): hospitals, authorities, patients, an admin."""
    return factories.build_world(make)
