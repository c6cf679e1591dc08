"""Flask CLI commands: `flask db upgrade|downgrade|new|status|maintenance`, `flask keys
status|reencrypt|rotate`, `flask audit verify|seal`, `flask create-admin`, `flask seed-demo`."""
import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from app import migrator
from app.auth import service as auth_service
from app.auth.schemas import RegisterSchema
from app.db import connect_from_config
from app.errors import DomainError
from app.timeutil import utcnow

db_cli = AppGroup("db", help="Database migrations and upkeep.")
audit_cli = AppGroup("audit", help="The audit tables' hash chains.")


def _connect():
    return connect_from_config(current_app.config)


def _connect_as_owner():
    """Migrations change the schema: the owner's connection (PostgreSQL), not the service's."""
    return connect_from_config(current_app.config, as_owner=True)


@db_cli.command("upgrade")
@click.argument("version", type=click.IntRange(min=1), required=False)
def db_upgrade(version):
    """Apply every pending migration (up to VERSION, if given)."""
    conn = _connect_as_owner()
    try:
        applied = migrator.upgrade(conn, current_app.config["MIGRATIONS_DIR"], log=click.echo,
                                   target=version)
    finally:
        conn.close()
    state = "schema up to date" if version is None else f"schema up to {version:04d}"
    click.echo(f"database {current_app.config['DATABASE']}: "
               f"{len(applied)} migration(s) applied, {state}")


@db_cli.command("downgrade")
@click.argument("version", type=click.IntRange(min=0))
def db_downgrade(version):
    """Undo every applied migration newer than VERSION, newest first (the floor is 0001)."""
    conn = _connect_as_owner()
    try:
        undone = migrator.downgrade(conn, current_app.config["MIGRATIONS_DIR"], version,
                                    log=click.echo)
    except migrator.MigrationError as error:
        raise click.ClickException(str(error)) from error
    finally:
        conn.close()
    click.echo(f"{len(undone)} migration(s) undone, schema at {version:04d}")


@db_cli.command("new")
@click.argument("name")
def db_new(name):
    """Write the next numbered migration, migrations/NNNN_NAME.py, from the template."""
    try:
        path = migrator.new_migration(current_app.config["MIGRATIONS_DIR"], name)
    except migrator.MigrationError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"created {path}: fill in its docstring, SQLITE/POSTGRES and their _DOWN lists")


@db_cli.command("status")
def db_status():
    """List migrations with applied time and execution time."""
    conn = _connect_as_owner()
    try:
        rows = migrator.status(conn, current_app.config["MIGRATIONS_DIR"])
    finally:
        conn.close()
    for row in rows:
        state = f"applied {row['appliedAt']} ({row['executionMs']} ms)" if row["applied"] else "PENDING"
        click.echo(f"{row['version']:04d}_{row['name']}: {state}")


@db_cli.command("maintenance")
def db_maintenance():
    """Run the database-maintenance job now (ANALYZE, search index, WAL), recorded in job_runs."""
    from app.ops.scheduler import JOBS, run_job

    spec = next(spec for spec in JOBS if spec.name == "database-maintenance")
    status, message = run_job(spec, current_app.config)
    click.echo(f"{spec.name} {status}: {message}")
    if status != "succeeded":
        raise SystemExit(1)


@db_cli.command("copy-to-postgres")
@click.option("--to", "target_url", required=True, metavar="postgresql://…",
              help="an empty PostgreSQL database, migrated to the same version")
@click.option("--from", "source_path", default=None, metavar="PATH",
              help="the SQLite database (default RAPIDCARE_DATABASE)")
def db_copy_to_postgres(target_url, source_path):
    """Copy the SQLite database into an empty, migrated PostgreSQL database (service stopped)."""
    import os

    from app.ops import copy_to_postgres

    if not target_url.startswith(("postgresql://", "postgres://")):
        raise click.BadParameter("must be a postgresql://user:password@host:port/dbname URL",
                                 param_hint="--to")
    source_path = source_path or current_app.config["DATABASE"]
    if not os.path.isfile(source_path):
        raise click.ClickException(f"no SQLite database at {source_path}")
    click.echo(f"copy: from {source_path}")
    bar = {}

    def start(total):
        bar["bar"] = click.progressbar(length=total, label="copying rows", show_pos=True)
        bar["bar"].__enter__()

    try:
        report = copy_to_postgres.copy(
            source_path, target_url, current_app.config, start=start,
            progress=lambda rows: bar["bar"].update(rows), log=click.echo)
    except (copy_to_postgres.CopyRefused, copy_to_postgres.CopyFailed) as error:
        kind = "REFUSED" if isinstance(error, copy_to_postgres.CopyRefused) else "FAILED"
        raise click.ClickException(f"copy {kind}: {error}\nThe PostgreSQL database was not "
                                   f"changed.") from error
    finally:
        if "bar" in bar:
            bar["bar"].__exit__(None, None, None)
    click.echo(f"copy: done; {sum(report.rows.values())} rows in {len(report.rows)} tables, "
               f"{len(report.money)} money columns summed alike, invariants hold")


@audit_cli.command("verify")
def audit_verify():
    """Check every audit chain; print the first broken row of each (exit 1 if any)."""
    from app.audit import chain

    conn = _connect()
    try:
        result = chain.verify_and_record(conn, now=utcnow())
    finally:
        conn.close()
    if not result["ok"]:
        for problem in result["problems"]:
            click.echo(f"BROKEN {problem}", err=True)
        raise SystemExit(1)
    for table, head in result["heads"].items():
        click.echo(f"{table}: {head['position']} link(s), head {head['linkHash']}")
    click.echo(chain.summary_line(result))


@audit_cli.command("seal")
def audit_seal():
    """Seal the audit rows not chained yet (the audit-seal job does this every minute)."""
    from app.audit import chain

    conn = _connect()
    try:
        added = chain.seal_now(conn, now=utcnow())
    finally:
        conn.close()
    for table, count in added.items():
        click.echo(f"{table}: {count} row(s) sealed")


@click.command("create-admin")
@with_appcontext
@click.option("--email", required=True)
@click.option("--password", required=True, help="8-72 bytes.")
@click.option("--name", required=True)
def create_admin(email, password, name):
    """Create a platform admin (the only way to get one)."""
    errors = RegisterSchema().validate({"email": email, "password": password, "name": name})
    if errors:
        raise click.ClickException(f"invalid input: {errors}")
    conn = _connect()
    try:
        user = auth_service.create_admin(
            conn, name=name.strip(), email=email.strip().lower(), password=password,
            bcrypt_rounds=current_app.config["BCRYPT_ROUNDS"], now=utcnow(),
        )
    except DomainError as error:
        raise click.ClickException(error.message) from error
    finally:
        conn.close()
    click.echo(f"admin created: id={user['id']} email={user['email']}")


@click.command("seed-demo")
@with_appcontext
def seed_demo():
    """Load demo hospitals, authorities and a patient (idempotent)."""
    from app import demo

    conn = _connect()
    try:
        for line in demo.seed(conn, current_app.config, utcnow()):
            click.echo(line)
    finally:
        conn.close()


keys_cli = AppGroup("keys", help="Field-encryption keys (README \"Encryption at rest\").")


def _reencrypt_with_progress(conn):
    from app.crypto import rotation, sealed_rows

    totals = {table: sealed_rows.count_rows(conn, table) for table in rotation.TABLES}
    with click.progressbar(length=sum(totals.values()), label="re-encrypting rows",
                           show_pos=True) as bar:
        report = rotation.reencrypt(conn, progress=lambda table, rows: bar.update(rows))
    for table in rotation.TABLES:
        click.echo(f"{table}: {report.resealed.get(table, 0)} row(s) re-sealed")
    for table, ids in report.unreadable.items():
        click.echo(f"{table}: {len(ids)} row(s) could not be opened (key lost or data "
                   f"tampered with), left as they are: ids {ids[:20]}", err=True)
    return report


@keys_cli.command("status")
def keys_status():
    """Rows per key id per table ('plaintext': not sealed yet; 'empty': nothing to seal)."""
    from app.crypto import fields, rotation

    ring = fields.ring()
    click.echo(f"current key: {ring.current}; keys in the ring: {', '.join(ring.keys)} "
               f"(from {ring.source})")
    conn = _connect()
    try:
        for table, counts in rotation.status(conn).items():
            shown = ", ".join(f"{key}: {n}" for key, n in counts.items()) or "no rows"
            click.echo(f"{table}: {shown}")
    finally:
        conn.close()


@keys_cli.command("reencrypt")
def keys_reencrypt():
    """Seal every row under the current key, in batches (resumable; the service may run)."""
    conn = _connect()
    try:
        report = _reencrypt_with_progress(conn)
    finally:
        conn.close()
    if report.unreadable:
        raise SystemExit(1)


@keys_cli.command("rotate")
@click.option("--key-id", default=None, help="id of the new key (default: k<n+1>)")
def keys_rotate(key_id):
    """Add a new current key to the key file, then re-encrypt every row under it."""
    from app.config import configure_encryption
    from app.crypto import fields, keys

    ring = fields.ring()
    if ring.source == "env":
        raise click.ClickException(
            "the keys come from RAPIDCARE_ENCRYPTION_KEYS: add a new entry there marked * "
            "(keep the old ones), restart the service, then run `flask keys reencrypt`")
    key_id = key_id or f"k{len(ring.keys) + 1}"
    if not keys.KEY_ID.match(key_id) or key_id in ring.keys:
        raise click.BadParameter(f"{key_id!r} is taken or not an id", param_hint="--key-id")
    entries = [(k, encoded, False) for k, encoded, _ in keys.entries(ring)]
    keys.write_key_file(ring.source, entries + [(key_id, keys.new_key(), True)])
    ring = configure_encryption(current_app.config)
    click.echo(f"key {key_id} added to {ring.source} and made current; the service picks it "
               "up when it meets a row sealed with it and seals new rows with it after a restart")
    keys_reencrypt.callback()


def init_app(app):
    app.cli.add_command(db_cli)
    app.cli.add_command(keys_cli)
    app.cli.add_command(audit_cli)
    app.cli.add_command(create_admin)
    app.cli.add_command(seed_demo)
