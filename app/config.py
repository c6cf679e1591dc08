"""Configuration: defaults, then RAPIDCARE_* environment variables, then explicit overrides.

Every key below can be set as an environment variable named RAPIDCARE_<KEY>
(Flask's ``from_prefixed_env``; values are parsed as JSON when they look like it,
so RAPIDCARE_BCRYPT_ROUNDS=10 is an int). The README lists them all.
"""
import os
from pathlib import Path

from flask import Config

PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEFAULTS = {
    # "production" or "development"; production refuses to start without SECRET_KEY.
    "ENV": "production",
    "SECRET_KEY": None,
    "DATABASE": str(PROJECT_ROOT / "instance" / "rapidcare.sqlite3"),
    # WAL makes synchronous=NORMAL durable against process crashes (a killed worker
    # loses nothing it committed); only an OS crash or power cut can lose the last
    # commits. FULL also survives that, at about half the write throughput.
    "SQLITE_SYNCHRONOUS": "NORMAL",
    "SQLITE_BUSY_TIMEOUT_MS": 5000,
    # A worker checkpoints the WAL after this many of its commits, once the response
    # is sent (app/db/checkpoints.py); 0 leaves it to SQLite, inside a COMMIT, every 1000 pages.
    "SQLITE_CHECKPOINT_COMMITS": 100,
    # Writers wait in a flock queue before BEGIN IMMEDIATE (app/db/writer_queue.py).
    # Off here (the scheduler, CLI commands, tests); gunicorn.conf.py turns it on for
    # the service's workers unless RAPIDCARE_SQLITE_WRITER_QUEUE is set.
    "SQLITE_WRITER_QUEUE": False,
    # PostgreSQL instead of the SQLite file: postgresql://user:password@host:port/dbname
    # (README "Running on PostgreSQL"). Empty: SQLite at DATABASE.
    "DATABASE_URL": "",
    # Connections per worker process (each gunicorn sync worker serves one request at
    # a time, so 2 leaves one spare for its metrics and health reads).
    "POSTGRES_POOL_SIZE": 2,
    # How long a request waits for a pooled connection before 503.
    "POSTGRES_POOL_TIMEOUT_SECONDS": 5,
    "POSTGRES_STATEMENT_TIMEOUT_MS": 30000,
    "POSTGRES_LOCK_TIMEOUT_MS": 5000,
    # Statements whose parameters are all typed are prepared once per connection
    # (app/db/postgres.py: planning under row-level security cost more than running
    # them). False behind PgBouncer older than 1.21 in transaction mode, which cannot
    # carry prepared statements from one transaction to the next.
    "POSTGRES_PREPARED_STATEMENTS": True,
    # A request that lost a serialization conflict runs again this many times (app/db/retry.py).
    # Each round of a conflict on one row lets one request through: a dozen refunds of one
    # payment at once need up to eleven rounds, so ten was seen to fail one in CI. Twenty
    # leaves a margin; the pauses stay short (app/db/retry.py: at most ~1.4 s in all).
    "POSTGRES_RETRIES": 20,
    # Where pg_dump, pg_restore live for scripts/backup-database and restore-database
    # (of the server's major version or newer). Empty: found on PATH.
    "PG_BIN_DIR": "",
    "MIGRATIONS_DIR": str(PROJECT_ROOT / "migrations"),
    "TIMEZONE": "Asia/Dhaka",
    "CURRENCY": "BDT",
    "BACKUP_DIR": str(PROJECT_ROOT / "backups"),
    "BACKUP_RETENTION_DAYS": 30,
    # Where gunicorn workers share their request metrics (prometheus_client's
    # multiprocess files); empty means "<DATABASE>-metrics". Wiped when gunicorn starts.
    "METRICS_DIR": "",
    # Requests larger than this are answered 413 before any view runs.
    "MAX_CONTENT_LENGTH": 64 * 1024,
    # Items in a page of a list when the request has no page_size (then capped to MAX_PAGE_SIZE).
    "DEFAULT_PAGE_SIZE": 20,
    "MAX_PAGE_SIZE": 100,
    "BCRYPT_ROUNDS": 12,
    "TOKEN_TTL_HOURS": 24,
    # Login throttling: this many failures for one email (or 4x for one IP) within
    # the window answer 429 until the window has passed.
    "LOGIN_MAX_FAILURES": 5,
    "LOGIN_FAILURE_WINDOW_SECONDS": 900,
    # "N/S" = at most N booking requests per user per S seconds; "0" disables.
    "BOOKING_RATE_LIMIT": "3/300",
    # "N/S" = at most N requests per hospital API key per S seconds; "0" disables.
    "API_KEY_RATE_LIMIT": "120/60",
    # Live (unrevoked) API keys a hospital may hold at once.
    "API_KEYS_PER_HOSPITAL": 20,
    "IDEMPOTENCY_KEY_TTL_HOURS": 24,
    # An Idempotency-Key claim with no stored answer after this long belongs to a
    # request that died (a killed worker): the next request with the key takes it
    # over, answering from the effect it committed, if any. Keep it well above
    # SSLCOMMERZ_TIMEOUT_SECONDS so a live request is never taken over.
    "IDEMPOTENCY_CLAIM_TIMEOUT_SECONDS": 120,
    "PLATFORM_FEE_BP": 500,  # default platform fee: 5.00 % (basis points)
    "CANCELLATION_WINDOW_HOURS": 24,
    "REFUND_INSIDE_WINDOW_BP": 5000,  # 50 % refunded when cancelled inside the window
    "SSLCOMMERZ_BASE_URL": "https://sandbox.sslcommerz.com",
    "SSLCOMMERZ_STORE_ID": "",
    "SSLCOMMERZ_STORE_PASSWORD": "",
    "SSLCOMMERZ_TIMEOUT_SECONDS": 10,
    # A gateway payment or refund with no verified outcome after this long is
    # asked about at the gateway (by tran_id) by reconciliation and by a new attempt.
    "PAYMENT_STALE_MINUTES": 60,
    "PUBLIC_BASE_URL": "http://127.0.0.1:8000",
    # Outgoing mail (app/mail/): queued in mail_outbox, sent by the scheduler's
    # mail-delivery job. Without SMTP_HOST (development) each message is written
    # as an .eml file into MAIL_DIR instead.
    "SMTP_HOST": "",
    "SMTP_PORT": 0,  # 0: the usual port of SMTP_SECURITY (587 starttls, 465 ssl, 25 none)
    "SMTP_USERNAME": "",
    "SMTP_PASSWORD": "",
    "SMTP_SECURITY": "starttls",  # starttls | ssl | none
    "SMTP_TIMEOUT_SECONDS": 10,
    "MAIL_FROM": "RapidCare <no-reply@rapidcare.local>",
    "MAIL_DIR": str(PROJECT_ROOT / "instance" / "mail"),
    # Booking and blood requests need a verified email address (403 otherwise).
    "REQUIRE_VERIFIED_EMAIL": False,
    "EMAIL_VERIFICATION_TTL_HOURS": 48,
    "PASSWORD_RESET_TTL_MINUTES": 60,
    # "N/S": at most N forgot-password / resend-verification requests per email
    # address per S seconds (4N per IP address); "0" disables.
    "ACCOUNT_MAIL_RATE_LIMIT": "3/900",
    "METRICS_ALLOW_LOCAL": True,
    # Detailed health turns these into warnings (app/ops/service.py). A WAL past
    # SQLite's backstop checkpoint (10,000 pages, about 40 MB) means checkpoints are
    # not keeping up; the daily backup is due every 24 hours, plus two of slack; a
    # quick_check this slow is worth knowing about before it slows the hourly job.
    "HEALTH_WAL_WARN_MB": 32,
    "HEALTH_BACKUP_MAX_AGE_HOURS": 26,
    "HEALTH_INTEGRITY_CHECK_WARN_MS": 1000,
    # A statement this slow (milliseconds) is logged, counted in /metrics and listed in
    # detailed health (app/db/slow_queries.py); 0 turns that off. The platform's targets:
    # under 100 ms for a simple query, under 500 ms for a complex one.
    "SLOW_QUERY_MS": 100,
    "LOG_LEVEL": "INFO",
    # OpenAPI / Swagger UI (flask-smorest)
    "API_TITLE": "RapidCare API",
    "API_VERSION": "1.0",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/",
    "OPENAPI_JSON_PATH": "openapi.json",
    "OPENAPI_SWAGGER_UI_PATH": "/docs",
    # Swagger UI's scripts: served by this app from a pinned package (app/extensions/swagger_ui.py).
    "OPENAPI_SWAGGER_UI_URL": "/docs/swagger-ui/",
    # Field encryption (README "Encryption at rest"): keys as '[*]id:base64key' entries,
    # comma-separated (* marks the current one), or a file of such lines. Production
    # refuses to start without one; development generates instance/encryption-keys.
    "ENCRYPTION_KEYS": "",
    "ENCRYPTION_KEY_FILE": "",
    # false writes personal fields as plaintext: only to measure the benchmark's baseline
    # (refused in production). Reading always accepts both.
    "ENCRYPT_FIELDS": True,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
}

# Used by the test suite: fast bcrypt, rate limits off unless a test turns them on.
TEST_OVERRIDES = {
    "ENV": "development",
    "TESTING": True,
    "SECRET_KEY": "test-secret-key",
    "BCRYPT_ROUNDS": 4,
    "BOOKING_RATE_LIMIT": "0",
    "ACCOUNT_MAIL_RATE_LIMIT": "0",
    # Off: on a loaded test machine any statement is slow now and then, and its log
    # line would land in tests reading the log; tests of slow queries turn it on.
    "SLOW_QUERY_MS": 0,
    # A fixed key, so tests can seal and open values themselves (never used outside tests).
    "ENCRYPTION_KEYS": "*test1:" + "dGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktMzJieSE=",
    "API_KEY_RATE_LIMIT": "0",
}


class ConfigError(RuntimeError):
    """The configuration is unsafe or inconsistent; the app refuses to start."""


def load_config(app, overrides=None):
    app.config.update(DEFAULTS)
    app.config.from_prefixed_env("RAPIDCARE")
    if overrides:
        app.config.update(overrides)
    check_config(app.config)


def standalone_config(overrides=None):
    """The configuration for operator scripts and the scheduler process.

    They serve no HTTP, so no SECRET_KEY is needed. Relative paths are taken
    from the project directory, as the service (started there) takes them.
    """
    config = Config(str(PROJECT_ROOT))
    config.update(DEFAULTS)
    config.from_prefixed_env("RAPIDCARE")
    if overrides:
        config.update(overrides)
    for key in ("DATABASE", "BACKUP_DIR", "METRICS_DIR", "MAIL_DIR"):
        if config[key] and not os.path.isabs(config[key]):
            config[key] = str(PROJECT_ROOT / config[key])
    if str(config["SQLITE_SYNCHRONOUS"]).upper() not in ("NORMAL", "FULL", "EXTRA"):
        raise ConfigError("RAPIDCARE_SQLITE_SYNCHRONOUS must be NORMAL, FULL or EXTRA")
    check_slow_query_ms(config)
    check_mail_config(config)
    configure_encryption(config)
    return config


def configure_encryption(config):
    """Load the key ring (ConfigError if unusable) and install it for this process."""
    from app.crypto import fields, keys

    try:
        ring = keys.load(config, PROJECT_ROOT)
    except keys.KeyConfigError as error:
        raise ConfigError(str(error)) from error
    # A key file may gain a key while this process runs (flask keys rotate): read it again
    # when a value names a key not seen yet. Keys from the environment are fixed.
    reload = None if ring.source == "env" else (lambda: keys.load(config, PROJECT_ROOT))
    fields.install(ring, reload)
    return ring


def check_config(config):
    if config["ENV"] not in ("production", "development"):
        raise ConfigError("RAPIDCARE_ENV must be 'production' or 'development'")
    if config["ENV"] == "production" and not config.get("SECRET_KEY"):
        raise ConfigError(
            "RAPIDCARE_SECRET_KEY is required in production "
            "(set RAPIDCARE_ENV=development for a local trial)"
        )
    if not config.get("SECRET_KEY"):
        # Development only. A fixed key, because every gunicorn worker must sign
        # cookies alike; production refuses to start without its own key (above).
        config["SECRET_KEY"] = "development-only-insecure-key"
    if str(config["SQLITE_SYNCHRONOUS"]).upper() not in ("NORMAL", "FULL", "EXTRA"):
        raise ConfigError("RAPIDCARE_SQLITE_SYNCHRONOUS must be NORMAL, FULL or EXTRA")
    commits = config["SQLITE_CHECKPOINT_COMMITS"]
    if isinstance(commits, bool) or not isinstance(commits, int) or commits < 0:
        raise ConfigError("RAPIDCARE_SQLITE_CHECKPOINT_COMMITS must be a whole number >= 0")
    page_size = config["DEFAULT_PAGE_SIZE"]
    if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
        raise ConfigError("RAPIDCARE_DEFAULT_PAGE_SIZE must be a whole number >= 1")
    claim_timeout = config["IDEMPOTENCY_CLAIM_TIMEOUT_SECONDS"]
    if isinstance(claim_timeout, bool) or not isinstance(claim_timeout, (int, float)) \
            or not claim_timeout > 0:
        raise ConfigError("RAPIDCARE_IDEMPOTENCY_CLAIM_TIMEOUT_SECONDS must be a number > 0")
    url = config.get("DATABASE_URL") or ""
    if url and not (url.startswith("postgresql://") or url.startswith("postgres://")):
        raise ConfigError("RAPIDCARE_DATABASE_URL must be a postgresql://user:password@host:port/dbname URL")
    for key in ("POSTGRES_POOL_SIZE", "POSTGRES_STATEMENT_TIMEOUT_MS", "POSTGRES_LOCK_TIMEOUT_MS"):
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"RAPIDCARE_{key} must be a whole number >= 1")
    retries = config["POSTGRES_RETRIES"]
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ConfigError("RAPIDCARE_POSTGRES_RETRIES must be a whole number >= 0")
    for key in ("HEALTH_WAL_WARN_MB", "HEALTH_BACKUP_MAX_AGE_HOURS", "HEALTH_INTEGRITY_CHECK_WARN_MS"):
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ConfigError(f"RAPIDCARE_{key} must be a number > 0")
    check_slow_query_ms(config)
    check_mail_config(config)
    # A malformed limit refuses the start rather than failing the first booking.
    parse_rate_limit(config["BOOKING_RATE_LIMIT"], "BOOKING_RATE_LIMIT")
    parse_rate_limit(config["API_KEY_RATE_LIMIT"], "API_KEY_RATE_LIMIT")
    keys = config["API_KEYS_PER_HOSPITAL"]
    if isinstance(keys, bool) or not isinstance(keys, int) or keys < 1:
        raise ConfigError("RAPIDCARE_API_KEYS_PER_HOSPITAL must be a whole number >= 1")
    if not isinstance(config["REQUIRE_VERIFIED_EMAIL"], bool):
        raise ConfigError("RAPIDCARE_REQUIRE_VERIFIED_EMAIL must be true or false")
    if not isinstance(config["SQLITE_WRITER_QUEUE"], bool):
        raise ConfigError("RAPIDCARE_SQLITE_WRITER_QUEUE must be true or false")
    if not isinstance(config["POSTGRES_PREPARED_STATEMENTS"], bool):
        raise ConfigError("RAPIDCARE_POSTGRES_PREPARED_STATEMENTS must be true or false")
    configure_encryption(config)
    config["SESSION_COOKIE_SECURE"] = config["ENV"] == "production" and str(
        config["PUBLIC_BASE_URL"]
    ).startswith("https://")


def parse_rate_limit(value, key):
    """"N/S" -> (N, S); "0" -> None (disabled). ConfigError otherwise."""
    text = str(value).strip()
    if text == "0":
        return None
    count, slash, seconds = text.partition("/")
    if not (slash and count.isdigit() and seconds.isdigit() and int(count) >= 1
            and int(seconds) >= 1):
        raise ConfigError(f"RAPIDCARE_{key} must be 'N/S' (N per S seconds) or '0', not {value!r}")
    return int(count), int(seconds)


def check_slow_query_ms(config):
    """SLOW_QUERY_MS, for the service and the scheduler alike (both time their statements)."""
    value = config["SLOW_QUERY_MS"]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigError("RAPIDCARE_SLOW_QUERY_MS must be a number >= 0 (0 turns it off)")


def check_mail_config(config):
    """The mail settings, for the service and the scheduler alike (the scheduler sends)."""
    if config["SMTP_SECURITY"] not in ("starttls", "ssl", "none"):
        raise ConfigError("RAPIDCARE_SMTP_SECURITY must be starttls, ssl or none")
    for key in ("SMTP_PORT", "EMAIL_VERIFICATION_TTL_HOURS", "PASSWORD_RESET_TTL_MINUTES",
                "SMTP_TIMEOUT_SECONDS"):
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < (0 if key == "SMTP_PORT" else 1):
            raise ConfigError(f"RAPIDCARE_{key} must be a whole number >= {0 if key == 'SMTP_PORT' else 1}")
    if "@" not in str(config["MAIL_FROM"]):
        raise ConfigError("RAPIDCARE_MAIL_FROM must be an address (Name <address@example.org>)")
    parse_rate_limit(config["ACCOUNT_MAIL_RATE_LIMIT"], "ACCOUNT_MAIL_RATE_LIMIT")
