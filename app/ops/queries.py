"""SQL for operations: job runs and monitoring counts. Functions take ``conn``, never commit."""

# The tables whose row counts the detailed health check reports (a whitelist:
# table names cannot be bound as parameters).
MONITORED_TABLES = (
    "users", "hospitals", "hospital_resources", "bookings", "transactions", "refunds",
    "blood_requests", "api_tokens", "job_runs",
)


def insert_job_run(conn, *, job_name, started_at):
    return conn.execute(
        """
        INSERT INTO job_runs (job_name, started_at, status)
        VALUES (:job_name, :started_at, 'running')
        RETURNING id
        """,
        {"job_name": job_name, "started_at": started_at},
    ).fetchone()["id"]


def finish_job_run(conn, run_id, *, finished_at, status, message):
    conn.execute(
        """
        UPDATE job_runs SET finished_at = :finished_at, status = :status, message = :message
        WHERE id = :id AND status = 'running'
        """,
        {"id": run_id, "finished_at": finished_at, "status": status, "message": message},
    )


def fail_unfinished_job_runs(conn, *, finished_at, message):
    """Runs left 'running' by a scheduler that died: only called while holding the scheduler lock."""
    return conn.execute(
        """
        UPDATE job_runs SET finished_at = :finished_at, status = 'failed', message = :message
        WHERE status = 'running'
        """,
        {"finished_at": finished_at, "message": message},
    ).rowcount


def latest_job_runs(conn):
    """The most recent run of every job that has run."""
    return conn.execute(
        """
        SELECT job_name, started_at, finished_at, status, message
        FROM job_runs
        WHERE id IN (SELECT max(id) FROM job_runs GROUP BY job_name)
        ORDER BY job_name
        """
    ).fetchall()


def latest_successful_job_runs(conn):
    return conn.execute(
        """
        SELECT job_name, max(finished_at) AS finished_at
        FROM job_runs WHERE status = 'succeeded'
        GROUP BY job_name ORDER BY job_name
        """
    ).fetchall()


def job_runs(conn, job_name):
    return conn.execute(
        "SELECT * FROM job_runs WHERE job_name = ? ORDER BY id", (job_name,)
    ).fetchall()


def row_count(conn, table):
    if table not in MONITORED_TABLES:
        raise ValueError(f"not a monitored table: {table}")
    return conn.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"]


def postgres_database_size(conn):
    return conn.execute("SELECT pg_database_size(current_database()) AS n").fetchone()["n"]


def pragma_value(conn, name):
    """One of a few read-only pragmas (a whitelist: pragma names cannot be bound)."""
    if name not in ("journal_mode", "foreign_keys", "page_size", "page_count", "freelist_count"):
        raise ValueError(f"not an allowed pragma: {name}")
    row = conn.execute(f"PRAGMA {name}").fetchone()
    return next(iter(row.values()))
