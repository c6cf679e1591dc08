"""Owner-only files (issue #18 item 4): what a serve-like start, a backup, a restore and a
mail write create is 0600 (directories 0700), even when started with umask 022; files
an earlier version left 0644 are fixed on start."""
import gzip
import os
import stat
import subprocess
import sys
import textwrap
from email.message import EmailMessage

import pytest

from app import files
from app.config import TEST_OVERRIDES, standalone_config
from app.db import connect_from_config
from app.mail.delivery import FolderTransport
from tests.ops import helpers

pytestmark = pytest.mark.sqlite_only

# standalone_config is production unless told otherwise: it needs its key
KEYS = {"ENCRYPTION_KEYS": TEST_OVERRIDES["ENCRYPTION_KEYS"]}


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def loose_umask():
    """As if started from a shell with the usual umask 022."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def run_with_umask(code, env):
    """``python -c code`` in a child started with umask 022."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=helpers.ROOT, env=env,
        capture_output=True, text=True, timeout=120, preexec_fn=lambda: os.umask(0o022))


def test_a_new_database_and_its_folder_are_owner_only_whatever_the_umask(tmp_path, loose_umask):
    database = tmp_path / "instance" / "db.sqlite3"
    conn = connect_from_config(standalone_config({"DATABASE": str(database), **KEYS}))
    conn.execute("CREATE TABLE t (x INTEGER)")
    conn.execute("INSERT INTO t VALUES (1)")
    assert mode(database) == 0o600
    assert mode(database.parent) == 0o700
    for suffix in ("-wal", "-shm"):
        assert os.path.exists(f"{database}{suffix}"), suffix  # WAL mode, connection open
        assert mode(f"{database}{suffix}") == 0o600, suffix
    conn.close()


def test_an_existing_shared_folder_is_left_alone(tmp_path, loose_umask):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    connect_from_config(standalone_config({"DATABASE": str(shared / "db.sqlite3"), **KEYS})).close()
    assert mode(shared) == 0o755 and mode(shared / "db.sqlite3") == 0o600


def test_a_serve_like_start_creates_owner_only_files_and_fixes_old_ones(tmp_path):
    """`flask db upgrade` (scripts/serve's first step) in a child with umask 022, then the
    gunicorn master's on_starting over files an older version left 0644."""
    database = tmp_path / "instance" / "rapidcare.sqlite3"
    backup_dir, mail_dir = tmp_path / "backups", tmp_path / "instance" / "mail"
    env = helpers.script_env(database, backup_dir, {
        "RAPIDCARE_MAIL_DIR": str(mail_dir), "FLASK_APP": "wsgi", "RAPIDCARE_ENV": "development",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")})
    result = run_with_umask(
        "from flask.cli import main; import sys; sys.argv = ['flask', 'db', 'upgrade']; main()", env)
    assert result.returncode == 0, result.stderr
    assert mode(database) == 0o600 and mode(database.parent) == 0o700
    # an older version's leftovers
    backup_dir.mkdir()
    os.chmod(backup_dir, 0o755)
    old_backup = backup_dir / "database_backup_20250101_000000.sqlite.gz"
    old_backup.write_bytes(b"old")
    mail_dir.mkdir()
    old_mail = mail_dir / "00000001-verify_email.eml"
    old_mail.write_bytes(b"mail")
    for path in (database, old_backup, old_mail):
        os.chmod(path, 0o644)
    os.chmod(mail_dir, 0o755)
    result = run_with_umask(
        """
        import logging
        from app.ops import server

        class Master:
            log = logging.getLogger("master")

        server.on_starting(Master())
        """, env)
    assert result.returncode == 0, result.stderr
    for path in (database, old_backup, old_mail):
        assert mode(path) == 0o600, path
    for path in (backup_dir, mail_dir):
        assert mode(path) == 0o700, path
    assert "was readable by others; now owner-only" in result.stderr


def test_a_backup_and_its_folder_are_owner_only(tmp_path):
    database = helpers.migrated_database(tmp_path / "live.sqlite3")
    backup_dir = tmp_path / "backups"
    result = subprocess.run(
        [sys.executable, "-m", "app.ops.backup"], cwd=helpers.ROOT,
        env=helpers.script_env(database, backup_dir), capture_output=True, text=True,
        timeout=120, preexec_fn=lambda: os.umask(0o022))
    assert result.returncode == 0, result.stderr
    [backup] = list(backup_dir.iterdir())
    assert mode(backup_dir) == 0o700 and mode(backup) == 0o600
    # the archive holds the database and nothing else (no key file rides along)
    with gzip.open(backup) as archive:
        assert archive.read(16) == b"SQLite format 3\x00"


def test_a_restore_leaves_owner_only_files(tmp_path):
    database = helpers.migrated_database(tmp_path / "live.sqlite3")
    backup_dir = tmp_path / "backups"
    env = helpers.script_env(database, backup_dir)
    for args in (["app.ops.backup"], ["app.ops.restore", "latest"]):
        result = subprocess.run(
            [sys.executable, "-m", *args], cwd=helpers.ROOT, env=env, capture_output=True,
            text=True, timeout=120, preexec_fn=lambda: os.umask(0o022))
        assert result.returncode == 0, result.stderr
    assert mode(database) == 0o600
    archived = [p for p in backup_dir.iterdir() if p.name.startswith("pre_restore_")]
    assert archived and all(mode(p) == 0o600 for p in backup_dir.iterdir())
    leftovers = [p for p in tmp_path.iterdir() if ".pre-restore-" in p.name]
    assert leftovers == []


def test_a_mail_file_and_its_folder_are_owner_only(tmp_path, loose_umask):
    mail_dir = tmp_path / "mail"
    message = EmailMessage()
    message["Subject"], message["To"] = "Reset your password", "patient@example.com"
    message.set_content("a link")
    FolderTransport({"MAIL_DIR": str(mail_dir)}).send(message, {"id": 7, "kind": "reset_password"})
    [written] = list(mail_dir.iterdir())
    assert written.name == "00000007-reset_password.eml"
    assert mode(mail_dir) == 0o700 and mode(written) == 0o600


def test_restrict_leaves_symlinks_and_sockets_alone(tmp_path):
    target = tmp_path / "target"
    target.write_text("x")
    os.chmod(target, 0o644)
    link = tmp_path / "link"
    link.symlink_to(target)
    assert files.restrict(link) is False and mode(target) == 0o644
    assert files.restrict(tmp_path / "missing") is False
    assert files.restrict(target) is True and mode(target) == 0o600
