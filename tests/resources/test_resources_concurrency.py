"""Authority updates racing booking allocations: no update may be lost."""
import threading
from types import SimpleNamespace

from app.db import connect_from_config, transaction
from app.resources import queries, service
from app.timeutil import to_iso, utcnow
from tests.pg import again_after_conflicts

ALLOCATORS, ALLOCATIONS_EACH, UPDATES = 3, 40, 40


def test_count_updates_never_overwrite_concurrent_allocations(app, make, db):
    hospital = make.hospital(resources={"beds": 1000})
    admin = make.admin()
    actor = SimpleNamespace(id=admin["id"], role="admin", hospital_id=None)
    config = {**app.config, "SQLITE_BUSY_TIMEOUT_MS": 30_000}
    allocated = []
    errors = []
    start = threading.Barrier(ALLOCATORS + 1)

    def allocate():
        conn = connect_from_config(config)

        def allocate_one():
            with transaction(conn):
                return queries.allocate_units(conn, hospital["id"], "beds", 1, to_iso(utcnow()))

        try:
            start.wait()
            for _ in range(ALLOCATIONS_EACH):
                if again_after_conflicts(allocate_one):
                    allocated.append(1)
        except Exception as error:  # reported below; a thread's exception is otherwise lost
            errors.append(error)
        finally:
            conn.close()

    def update_totals():
        conn = connect_from_config(config)
        try:
            start.wait()
            for i in range(UPDATES):
                # Only `total` is sent: occupied must be whatever it is at write time.
                again_after_conflicts(lambda i=i: service.set_counts(
                    conn, hospital["id"], "beds", {"total": 1000 + i}, actor, reason=f"recount {i}",
                    ip_address=None, user_agent=None, now=utcnow()))
        except Exception as error:
            errors.append(error)
        finally:
            conn.close()

    threads = [threading.Thread(target=allocate) for _ in range(ALLOCATORS)]
    threads.append(threading.Thread(target=update_totals))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors

    final = queries.get_resource(db, hospital["id"], "beds")
    assert final["occupied"] == len(allocated) == ALLOCATORS * ALLOCATIONS_EACH
    assert final["total"] == 1000 + UPDATES - 1
    assert final["available"] == final["total"] - final["occupied"]
    entries = db.execute("SELECT count(*) AS n FROM resource_audit_log").fetchone()["n"]
    assert entries == UPDATES
