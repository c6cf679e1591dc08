"""Flask CLI commands: `flask db upgrade|status|maintenance`, `flask create-admin`, `flask seed-demo`."""
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


def _connect():
    return connect_from_config(current_app.config)


@db_cli.command("upgrade")
def db_upgrade():
    """Apply every pending migration."""
    conn = _connect()
    try:
        applied = migrator.upgrade(conn, current_app.config["MIGRATIONS_DIR"], log=click.echo)
    finally:
        conn.close()
    click.echo(f"database {current_app.config['DATABASE']}: "
               f"{len(applied)} migration(s) applied, schema up to date")


@db_cli.command("status")
def db_status():
    """List migrations with applied time and execution time."""
    conn = _connect()
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


def init_app(app):
    app.cli.add_command(db_cli)
    app.cli.add_command(create_admin)
    app.cli.add_command(seed_demo)
