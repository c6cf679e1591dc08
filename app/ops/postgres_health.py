"""What detailed health and /metrics report about a PostgreSQL database.

The SQLite report reads pragmas and file sizes; a PostgreSQL operator asks other
questions: which server, how big, is the pool of this worker exhausted, is a
transaction holding locks for minutes (it also holds back vacuum), and how far
behind is each replica.
"""
from app.db import postgres

# A transaction open longer than this is reported (and warned about).
LONG_TRANSACTION_SECONDS = 60


def facts(conn):
    server = conn.execute(
        """
        SELECT current_setting('server_version') AS server_version,
               pg_database_size(current_database()) AS size_bytes,
               current_database() AS name
        """
    ).fetchone()
    long_running = conn.execute(
        """
        SELECT count(*) AS n, coalesce(max(extract(epoch FROM now() - xact_start)), 0) AS longest
        FROM pg_stat_activity
        WHERE datname = current_database() AND xact_start IS NOT NULL
          AND pid <> pg_backend_pid()
          AND now() - xact_start > make_interval(secs => ?)
        """,
        (LONG_TRANSACTION_SECONDS,),
    ).fetchone()
    # On a primary, one row per connected replica; empty when there is none.
    replicas = conn.execute(
        """
        SELECT application_name, state,
               coalesce(extract(epoch FROM replay_lag), 0) AS replay_lag_seconds
        FROM pg_stat_replication ORDER BY application_name
        """
    ).fetchall()
    pools = postgres.pool_stats()
    return {
        "backend": "postgresql",
        "name": server["name"],
        "server_version": server["server_version"],
        "size_bytes": int(server["size_bytes"]),
        "long_running_transactions": int(long_running["n"]),
        "longest_transaction_seconds": round(float(long_running["longest"]), 1),
        "replicas": [{"name": row["application_name"], "state": row["state"],
                      "replay_lag_seconds": round(float(row["replay_lag_seconds"]), 3)}
                     for row in replicas],
        "pool": {
            "size": sum(stats.get("pool_size", 0) for stats in pools),
            "available": sum(stats.get("pool_available", 0) for stats in pools),
            "waiting": sum(stats.get("requests_waiting", 0) for stats in pools),
            "max": sum(stats.get("pool_max", 0) for stats in pools),
        },
    }


def warnings(database):
    found = []
    if database["long_running_transactions"]:
        found.append(f"{database['long_running_transactions']} transaction(s) open longer than "
                     f"{LONG_TRANSACTION_SECONDS} s (longest {database['longest_transaction_seconds']} s)")
    for replica in database["replicas"]:
        if replica["replay_lag_seconds"] > 60:
            found.append(f"replica {replica['name']} is {replica['replay_lag_seconds']:.0f} s behind")
    return found
