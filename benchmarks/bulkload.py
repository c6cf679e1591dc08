"""Bulk load only: migrate a fresh database, load the data set, check the invariants.

    python -m benchmarks.bulkload --bookings 200000 [--keep DIR]

Prints rows/s (every table's rows, the triggers' included): for the insert phase alone and
end to end (insert + index/trigger rebuild + finish). The machine may be shared, so it also
prints the CPU seconds this process used.
"""
import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

from app import migrator
from app.config import DEFAULTS
from app.db import connect
from app.ops import invariants
from app.timeutil import utcnow
from benchmarks.loader import Loader


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bookings", type=int, default=1_000_000)
    parser.add_argument("--hospitals", type=int, default=100)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=20_000)
    parser.add_argument("--keep", metavar="DIR", help="write the database here and keep it")
    parser.add_argument("--through-triggers", action="store_true",
                        help="the slow path for comparison: every row through the triggers, "
                             "indexes kept")
    parser.add_argument("--no-check", action="store_true", help="skip the invariant check")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(args.keep or tmp)
        directory.mkdir(parents=True, exist_ok=True)
        conn = connect(str(directory / "bulk.db"))
        migrator.upgrade(conn, DEFAULTS["MIGRATIONS_DIR"], log=lambda _line: None)
        loader = Loader(conn, now=utcnow(), batch_size=args.batch_size,
                        fast=not args.through_triggers)
        loader.load_base(hospitals=args.hospitals, users=args.users)
        before = sum(loader.table_rows().values())
        started, cpu_started = time.perf_counter(), time.process_time()
        loader.load_bookings(args.bookings)
        finish_started = time.perf_counter()
        loader.finish()
        finish = time.perf_counter() - finish_started
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        child_cpu = children.ru_utime + children.ru_stime  # the row generator process
        rows = sum(loader.table_rows().values()) - before
        print(f"bulk load: {args.bookings:,} bookings, {rows:,} rows in all tables")
        phase = "through triggers, indexes kept" if args.through_triggers else "indexes/triggers off"
        print(f"  insert phase ({phase}): {loader.insert_seconds:6.1f} s  "
              f"{rows / loader.insert_seconds:9,.0f} rows/s"
              + (f"  (of which {loader.generator_wait_seconds:.1f} s waiting for the row "
                 f"generator process)" if loader.generator_process and loader.fast else ""))
        print(f"  index + trigger rebuild: {loader.rebuild_seconds:6.1f} s")
        print(f"  finish (counters, ANALYZE): {finish:6.1f} s")
        print(f"  end to end: {seconds:6.1f} s  "
              f"{rows / seconds:9,.0f} rows/s  ({args.bookings / seconds:,.0f} bookings/s; "
              f"{cpu:.1f} s CPU in this process, {rows / cpu:,.0f} rows per CPU second)")
        print(f"  CPU: {cpu:.1f} s this process + {child_cpu:.1f} s row generator process = "
              f"{cpu + child_cpu:.1f} s, {rows / (cpu + child_cpu):,.0f} rows per CPU second")
        if args.no_check:
            return 0
        violations = invariants.check_all(conn)
        print("invariants: " + ("all hold" if not violations else f"VIOLATED {violations}"))
        return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
