"""Bulk-load a realistic data set into a migrated database, through plain SQL.

Hospitals (approved, with resources, prices, an authority each), users with
funded wallets, and bookings in every state with their payments. Bookings are
written the way the service writes them, so the schema's triggers run as in
production: each booking is inserted 'pending' (the triggers write its creation
history row and notifications) and then moved through its transitions by UPDATE
(each transition writes a history row and a notification). One BEGIN IMMEDIATE
transaction per batch of ``batch_size`` bookings, executemany for every statement.
That is the ``fast=False`` path. The default bulk mode drops the booking triggers and the big
tables' secondary indexes for the load, inserts each booking in its final state with exactly
the history and notification rows the triggers would have written (tests/test_loader.py
compares the two paths row for row), then rebuilds indexes and triggers from their
definitions and checks they are all back. Foreign keys are off during that load and checked in
bulk at its end (PRAGMA foreign_key_check). The rows are built in a second process, one batch
ahead of the inserts (_GeneratorProcess), with the same draws as in-process generation.

States (of the whole set): completed 62 %, cancelled 15 %, declined 10 %,
pending 9 %, approved 4 %. Open bookings (pending, approved) are scheduled in the
coming weeks; the rest lie in the past. Every approved booking holds one unit and
has its payment due ('pending' transaction, as approval creates it); completed
bookings are paid (a third from the wallet, with the ledger rows that implies) and
their hospital's share is booked in hospital_earnings.
At the end the resource counters are set so that nothing is marked occupied by hand
and the total leaves room for every approved booking at once (however their windows
overlap), so app.ops.invariants holds on the loaded data.
"""
import importlib.util
import json
import multiprocessing
import pickle
import random
import re
import time
from bisect import bisect
from datetime import timedelta
from pathlib import Path

from app import migrator
from app.auth.passwords import hash_password
from app.config import DEFAULTS, TEST_OVERRIDES, configure_encryption
from app.crypto import rotation
from app.db import connect, transaction
from app.money import split_fee
from app.pricing.rules import calculate_amount
from app.timeutil import to_iso, utcnow

DHAKA_OFFSET = timedelta(hours=6)  # Asia/Dhaka has no daylight saving time
PASSWORD = "bench-password-1"
WALLET_START_MINOR = 500_000_000  # 50 lakh BDT each: no benchmark payment runs short
PLATFORM_FEE_BP = 500

CITIES = ["Dhaka", "Chattogram", "Khulna", "Rajshahi", "Sylhet", "Barishal", "Rangpur",
          "Mymensingh", "Comilla", "Gazipur", "Narayanganj", "Bogura", "Jessore", "Cox's Bazar"]
KINDS = ["General", "Medical College", "Heart Institute", "Children's", "Specialized",
         "Community", "Central", "City", "Lifeline", "Green Crescent"]
SPECIALTIES = ["cardiology", "neurology", "trauma", "general surgery", "pediatrics",
               "orthopedics", "maternity", "oncology", "nephrology", "burns", "ophthalmology",
               "dermatology", "psychiatry", "gastroenterology"]
CONDITIONS = ["Chest pain", "Fracture", "High fever", "Post-operative care", "Pneumonia",
              "Dengue", "Stroke observation", "Labour", "Appendicitis", "Kidney stones"]
FIRST = ["Rahim", "Karim", "Ayesha", "Fatema", "Nusrat", "Tanvir", "Sadia", "Imran", "Farhana",
         "Arif", "Mitu", "Shakil", "Rumana", "Jahid", "Lamia", "Sabbir"]
LAST = ["Ahmed", "Hossain", "Rahman", "Islam", "Chowdhury", "Khan", "Akter", "Begum", "Uddin"]

# resource type -> (share of bookings, total range, hours range, prices: base, hour, day, multiplier)
RESOURCES = {
    "beds": (0.80, (250, 1200), (24, 168), (150000, 0, 200000, 15000)),
    "icu": (0.15, (40, 120), (24, 120), (500000, 50000, 0, 15000)),
    "operationTheatres": (0.05, (12, 40), (1, 8), (2500000, 300000, 0, 12500)),
}
STATES = [("completed", 0.62), ("cancelled", 0.15), ("declined", 0.10),
          ("pending", 0.09), ("approved", 0.04)]
URGENCIES = [("low", 0.25), ("medium", 0.45), ("high", 0.22), ("critical", 0.08)]
COUNTED_TABLES = ("users", "hospitals", "hospital_resources", "hospital_pricing", "bookings",
                  "booking_status_history", "booking_notifications", "transactions",
                  "hospital_earnings", "balance_transactions", "user_balance")
HISTORY_DAYS = 880  # past bookings spread over the last ~2.4 years
# Tables whose secondary indexes are dropped for a bulk load and rebuilt after it (a sorted
# CREATE INDEX beats a million random B-tree inserts). balance_transactions keeps its
# indexes: a later migration's insert trigger reads the user's last row through them.
REBUILT_INDEX_TABLES = ("bookings", "booking_status_history", "booking_notifications",
                        "transactions", "hospital_earnings")


def _booking_triggers():
    """The SQLite triggers on bookings as the migrations leave them: migration 0001's, each
    replaced by the latest migration that recreates it (0062, 0065), in 0001's order."""
    triggers = {}
    migrations = Path(__file__).resolve().parent.parent / "migrations"
    for path in sorted(migrations.glob("[0-9][0-9][0-9][0-9]_*.py")):
        spec = importlib.util.spec_from_file_location(f"rapidcare_{path.stem}_for_loader", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for sql in getattr(module, "SQLITE", []):
            if "CREATE TRIGGER" in sql and re.search(r"\bON bookings\b", sql):
                triggers[_trigger_name(sql)] = sql.strip()
    return list(triggers.values())


def _trigger_name(sql):
    return sql.split("TRIGGER", 1)[1].split()[0]


def _cumulative(weighted):
    values, total, cumulative = [], 0.0, []
    for value, weight in weighted:
        total += weight
        values.append(value)
        cumulative.append(total)
    return values, cumulative


# precomputed once: random.choices(weights=...) rebuilds these on every call (same draws)
_STATE_CHOICE = _cumulative(STATES)
_URGENCY_CHOICE = _cumulative(URGENCIES)
_RESOURCE_CHOICE = _cumulative((name, spec[0]) for name, spec in RESOURCES.items())


def _pick(rng, choice):
    """rng.choices(values, cum_weights=cumulative)[0], with the same draw and result."""
    values, cumulative = choice
    return values[bisect(cumulative, rng.random() * cumulative[-1], 0, len(values) - 1)]


GENDERS = ("male", "female", "other")
RELATIONSHIPS = ("spouse", "parent", "child", "sibling")


def _step(booking_id, order, status, units, actor, reason, at, stamp, approved_by=None):
    """One status transition (what one UPDATE of _batch sets): ``at`` (ISO) is also the value
    of the ``stamp`` column; the other stamps are NULL."""
    step = {"id": booking_id, "order": order, "status": status, "units": units, "actor": actor,
            "reason": reason, "at": at, "approved_by": approved_by, "approved_at": None,
            "declined_at": None, "cancelled_at": None, "completed_at": None}
    step[stamp] = at
    return step


def _iso(moment):
    """app.timeutil.to_iso for the loader's datetimes, which are all UTC already (checked in
    Loader.__init__), without its per-call time zone conversion."""
    return moment.isoformat(timespec="microseconds")


class Loader:
    """Keeps what later stages need (ids, prices, wallet balances) between load() calls."""

    def __init__(self, conn, *, now, seed=20261121, batch_size=20_000, fast=True,
                 generator_process=True):
        if now.utcoffset() != timedelta(0):
            raise ValueError("the loader works in UTC: pass now in UTC")
        self.conn = conn
        # fast: triggers and secondary indexes off during the load, the triggers' rows written
        # here; otherwise every row goes through the triggers as the service writes it
        self.fast = fast
        # fast mode: build the rows in a second process, pipelined with the inserts
        self.generator_process = generator_process
        self.insert_seconds = 0.0  # the batches alone (fast mode: indexes/triggers off)
        self.rebuild_seconds = 0.0  # recreating indexes and triggers afterwards
        self.generator_wait_seconds = 0.0  # of insert_seconds: waiting for the generator process
        self.now = now
        self.rng = random.Random(seed)
        self.batch_size = batch_size
        self.hospitals = []  # dicts: id, authority_id, prices{type: row}, fee_bp
        self.user_ids = []
        self.admin_id = None
        self.next_booking_id = 1
        self.next_ledger_id = 1
        self.next_transaction_id = None  # fast mode: set from the table when a load starts
        self.reference_counters = {}  # year -> last value
        self.balances = {}  # user id -> wallet balance (minor)
        self.open_slots = set()  # (user, hospital, type, day) of pending/approved bookings
        self.seconds = 0.0
        self._pending_debits = []  # wallet payments of the batch, debited once their rows exist
        self._pending_ledger = []
        self._batch_slots = set()  # (user, hospital, type, day) of the batch's past bookings

    # --- hospitals and people -----------------------------------------------------------

    def load_base(self, *, hospitals=100, users=10_000):
        started = time.perf_counter()
        stamp = to_iso(self.now - timedelta(days=HISTORY_DAYS + 30))
        password_hash = hash_password(PASSWORD, 10)  # one hash for everyone: bcrypt is slow
        with transaction(self.conn):
            self.admin_id = self.conn.execute(
                """
                INSERT INTO users (name, email, password_hash, role, created_at, updated_at)
                VALUES ('Bench Admin', 'admin@bench.rapidcare.local', ?, 'admin', ?, ?) RETURNING id
                """,
                (password_hash, stamp, stamp),
            ).fetchone()["id"]
            for n in range(hospitals):
                self._hospital(n, password_hash, stamp)
            first_user = self.conn.execute("SELECT coalesce(max(id), 0) + 1 AS n FROM users").fetchone()["n"]
            self.conn.executemany(
                """
                INSERT INTO users (id, name, email, password_hash, phone, role, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, 'user', ?, ?)
                """,
                [(first_user + n, f"{self.rng.choice(FIRST)} {self.rng.choice(LAST)}",
                  f"user{n}@bench.rapidcare.local", password_hash,
                  f"+88017{self.rng.randrange(10**8):08d}", stamp, stamp) for n in range(users)],
            )
            self.user_ids = list(range(first_user, first_user + users))
            for user_id in self.user_ids:
                self._ledger_row(user_id, "credit", WALLET_START_MINOR, None, "Wallet top-up", stamp)
            self._flush_ledger()
        self.seconds += time.perf_counter() - started

    def _hospital(self, n, password_hash, stamp):
        city = CITIES[n % len(CITIES)]
        specialties = self.rng.sample(SPECIALTIES, 3)
        hospital_id = self.conn.execute(
            """
            INSERT INTO hospitals (name, address, city, phone, specialties, status,
                                   approved_by, approved_at, created_at, updated_at)
            VALUES (?, ?, ?, ?, ?, 'approved', ?, ?, ?, ?) RETURNING id
            """,
            (f"{city} {KINDS[n // len(CITIES) % len(KINDS)]} Hospital {n + 1}",
             f"{10 + n} Hospital Road, {city}", city, f"+880 2 {5500000 + n}",
             json.dumps(specialties), self.admin_id, stamp, stamp, stamp),
        ).fetchone()["id"]
        authority_id = self.conn.execute(
            """
            INSERT INTO users (name, email, password_hash, role, hospital_id, created_at, updated_at)
            VALUES (?, ?, ?, 'hospital-authority', ?, ?, ?) RETURNING id
            """,
            (f"Authority {n + 1}", f"authority{n + 1}@bench.rapidcare.local", password_hash,
             hospital_id, stamp, stamp),
        ).fetchone()["id"]
        prices = {}
        for resource_type, (_, total_range, _, base_prices) in RESOURCES.items():
            scale = self.rng.uniform(0.7, 1.3)
            base, per_hour, per_day, multiplier = base_prices
            price = {"base_price_minor": round(base * scale, -2),
                     "price_per_hour_minor": round(per_hour * scale, -2),
                     "price_per_day_minor": round(per_day * scale, -2),
                     "emergency_multiplier_bp": multiplier}
            self.conn.execute(
                """
                INSERT INTO hospital_pricing (hospital_id, resource_type, base_price_minor,
                    price_per_hour_minor, price_per_day_minor, emergency_multiplier_bp,
                    effective_from, created_by, created_at)
                VALUES (:hospital_id, :resource_type, :base_price_minor, :price_per_hour_minor,
                        :price_per_day_minor, :emergency_multiplier_bp, :stamp, :by, :stamp)
                """,
                {**price, "hospital_id": hospital_id, "resource_type": resource_type,
                 "stamp": stamp, "by": authority_id},
            )
            # counters are set from the bookings at the end (finish())
            total = self.rng.randint(*total_range)
            self.conn.execute(
                """
                INSERT INTO hospital_resources (hospital_id, resource_type, total, available,
                                                reserved, maintenance, updated_by, last_updated)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """,
                (hospital_id, resource_type, total, total - 3, 2, 1, authority_id, stamp),
            )
            prices[resource_type] = price
        fee_bp = PLATFORM_FEE_BP
        if n % 10 == 0:  # a few hospitals negotiated their own fee
            fee_bp = 300
            self.conn.execute(
                """
                INSERT INTO payment_policies (hospital_id, platform_fee_bp, cancellation_window_hours,
                                              refund_inside_window_bp, updated_by, updated_at)
                VALUES (?, ?, 24, 5000, ?, ?)
                """,
                (hospital_id, fee_bp, self.admin_id, stamp),
            )
        self.hospitals.append({"id": hospital_id, "authority_id": authority_id,
                               "prices": prices, "fee_bp": fee_bp, "city": city,
                               "specialties": specialties})

    # --- bookings ---------------------------------------------------------------------------

    def load_bookings(self, count, *, progress=None):
        """Add ``count`` bookings (in batches, one transaction each); returns the seconds taken.
        Fast mode generates the batches in a second process (see _GeneratorProcess), one
        batch ahead of the inserts, unless ``generator_process`` is False."""
        sizes = [min(self.batch_size, count - done) for done in range(0, count, self.batch_size)]
        done, spent = 0, 0.0
        saved = self._bulk_begin() if self.fast else None
        generator = None
        try:
            if self.fast:
                # ids as SQLite would give them (INTEGER PRIMARY KEY: max + 1), so the earnings
                # and ledger rows need no lookup by reference
                self.next_transaction_id = self.conn.execute(
                    "SELECT coalesce(max(id), 0) + 1 AS n FROM transactions").fetchone()["n"]
                if self.generator_process and sizes:
                    generator = _GeneratorProcess(self, sizes)
            for size in sizes:
                started = time.perf_counter()
                if generator is not None:
                    self._write_fast_rows(generator.next_batch())
                elif self.fast:
                    self._write_fast_rows(self._fast_rows(size))
                else:
                    self._batch(size)
                spent += time.perf_counter() - started
                done += size
                if progress:
                    progress(done, count, spent)
            if generator is not None:
                started = time.perf_counter()
                generator.finish(self)  # the state later stages need: balances, ids, counters
                spent += time.perf_counter() - started
        finally:
            if generator is not None:
                generator.close()
                self.generator_wait_seconds += generator.wait_seconds
            self.insert_seconds += spent
            if saved is not None:
                started = time.perf_counter()
                self._bulk_end(saved)
                rebuild = time.perf_counter() - started
                self.rebuild_seconds += rebuild
                spent += rebuild
        self.seconds += spent
        return spent

    # --- bulk mode: triggers and secondary indexes off for the load --------------------------

    def _bulk_begin(self):
        """Drop the booking triggers and the big tables' secondary indexes (keeping their
        definitions), and relax durability: this is a throwaway benchmark database."""
        conn = self.conn
        triggers = _booking_triggers()
        expected = {_trigger_name(sql): " ".join(sql.split()) for sql in triggers}
        stored = {row["name"]: " ".join(row["sql"].split()) for row in conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'bookings'")}
        if stored != expected:
            # a later migration changed the booking triggers: the rows written here would no
            # longer be what the triggers write, so refuse rather than load different data
            raise RuntimeError("booking triggers differ from the migrations'; bulk mode refused")
        placeholders = ", ".join("?" * len(REBUILT_INDEX_TABLES))
        indexes = [(row["name"], row["sql"]) for row in conn.execute(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            f"AND tbl_name IN ({placeholders}) ORDER BY rowid", REBUILT_INDEX_TABLES)]
        saved = {"triggers": triggers, "indexes": indexes, "pragmas": {
            name: conn.execute(f"PRAGMA {name}").fetchone()[name]
            for name in ("synchronous", "cache_size", "temp_store", "foreign_keys")}}
        with transaction(conn):
            for name in expected:
                conn.execute(f"DROP TRIGGER {name}")
            for name, _ in indexes:
                conn.execute(f"DROP INDEX {name}")
        conn.execute("PRAGMA synchronous = OFF")
        # references are checked once, in bulk, by _bulk_end (PRAGMA foreign_key_check over the
        # whole database): ~5 s at 1M bookings against ~14 s for checking row by row
        conn.execute("PRAGMA foreign_keys = OFF")
        conn.execute("PRAGMA temp_store = MEMORY")  # the index rebuilds sort in memory
        # the unique autoindexes (booking reference, transaction ref) stay and take random
        # inserts: keep them in cache (256 MB at most; a larger setting is kept)
        cache_size = int(saved["pragmas"]["cache_size"])  # negative: KiB, positive: pages
        conn.execute(f"PRAGMA cache_size = {min(cache_size, -262144) if cache_size < 0 else -262144}")
        return saved

    def _bulk_end(self, saved):
        """Rebuild the indexes (the unique ones re-check the loaded data as they go) and the
        triggers from their definitions, restore durability and foreign key enforcement,
        verify all are back, and check every reference the load wrote."""
        conn = self.conn
        with transaction(conn):
            for _, sql in saved["indexes"]:
                conn.execute(sql)
            for sql in saved["triggers"]:
                conn.execute(sql)
        for name, value in saved["pragmas"].items():
            conn.execute(f"PRAGMA {name} = {int(value)}")
        present = {row["name"] for row in conn.execute("SELECT name FROM sqlite_master")}
        missing = ({name for name, _ in saved["indexes"]}
                   | {_trigger_name(sql) for sql in saved["triggers"]}) - present
        if missing:
            raise RuntimeError(f"bulk load did not restore {sorted(missing)}")
        broken = conn.execute("PRAGMA foreign_key_check").fetchmany(5)
        if broken:
            raise RuntimeError(f"bulk load wrote rows with dangling references, e.g. {broken}")

    def _batch(self, size):
        inserts, transitions, payments = [], [], []
        self._batch_slots = set()
        for _ in range(size):
            booking, steps, payment = self._one_booking()
            inserts.append(booking)
            transitions.extend(steps)
            if payment:
                payments.append(payment)
        transitions.sort(key=lambda step: step["order"])  # approvals before completions
        with transaction(self.conn):
            self.conn.executemany(
                """
                INSERT INTO bookings (id, booking_reference, user_id, hospital_id, resource_type,
                    patient_name, patient_age, patient_gender, medical_condition, urgency,
                    emergency_contact_name, emergency_contact_phone, emergency_contact_relationship,
                    scheduled_date, scheduled_end, scheduled_day, estimated_duration_hours, status,
                    amount_minor, status_changed_by, created_at, updated_at)
                VALUES (:id, :booking_reference, :user_id, :hospital_id, :resource_type,
                    :patient_name, :patient_age, :patient_gender, :medical_condition, :urgency,
                    'Next of kin', :contact_phone, :relationship,
                    :scheduled_date, :scheduled_end, :scheduled_day, :hours, 'pending', :amount_minor,
                    :user_id, :created_at, :created_at)
                """,
                inserts,
            )
            self.conn.executemany(
                """
                UPDATE bookings SET status = :status, allocated_units = :units,
                    status_changed_by = :actor, status_reason = :reason, updated_at = :at,
                    approved_by = coalesce(:approved_by, approved_by),
                    approved_at = coalesce(:approved_at, approved_at),
                    declined_at = :declined_at, cancelled_at = :cancelled_at,
                    completed_at = :completed_at
                WHERE id = :id
                """,
                transitions,
            )
            self._write_payments(payments)

    def _fast_rows(self, size):
        """The same bookings as _batch (same random draws) in their final state, with the rows
        the booking triggers would have written, in the order they would have written them:
        per booking its creation history row and notifications, then every approval or
        decline, then every completion or cancellation (tests/test_loader.py compares both).
        Pure Python, no database: it runs in the generator process (see load_bookings).
        Transaction ids are assigned here, in insert order, as SQLite would assign them."""
        bookings, creation_history, creation_notes, steps_all, payments = [], [], [], [], []
        self._batch_slots = set()
        authorities = {h["id"]: h["authority_id"] for h in self.hospitals}
        for _ in range(size):
            booking, steps, payment = self._one_booking()
            booking_id, ref, created = booking["id"], booking["booking_reference"], booking["created_at"]
            user_id = booking["user_id"]
            creation_history.append((booking_id, None, "pending", user_id, None, created))
            creation_notes.append((user_id, booking_id, "booking_submitted", "Booking request received",
                                   f"Your booking {ref} is waiting for the hospital's decision.",
                                   created))
            creation_notes.append((authorities[booking["hospital_id"]], booking_id,
                                   "booking_request", "New booking request",
                                   f"Booking {ref} ({booking['resource_type']}, "
                                   f"{booking['urgency']} urgency) is waiting for review.",
                                   created))
            # the columns the UPDATEs of _batch change, from their values at creation, then
            # what each UPDATE does, step by step (approved_* take coalesce(new, old))
            status, units, actor, reason, at = "pending", 0, user_id, None, created
            approved_by = approved_at = declined_at = cancelled_at = completed_at = None
            for step in steps:
                steps_all.append((step["order"], booking_id, user_id, ref, status, step))
                status, units, actor, reason, at = (step["status"], step["units"], step["actor"],
                                                    step["reason"], step["at"])
                declined_at, cancelled_at, completed_at = (step["declined_at"], step["cancelled_at"],
                                                           step["completed_at"])
                if step["approved_by"] is not None:
                    approved_by = step["approved_by"]
                if step["approved_at"] is not None:
                    approved_at = step["approved_at"]
            b = booking
            bookings.append((
                booking_id, ref, user_id, b["hospital_id"], b["resource_type"],
                b["patient_name"], b["patient_age"], b["patient_gender"], b["medical_condition"],
                b["urgency"], b["contact_phone"], b["relationship"], b["scheduled_date"],
                b["scheduled_end"], b["scheduled_day"], b["hours"], status, units, b["amount_minor"],
                actor, reason, approved_by, approved_at, declined_at, cancelled_at, completed_at,
                created, at))
            if payment:
                payments.append(payment)
        steps_all.sort(key=lambda item: item[0])  # stable, like _batch's transition order
        creation_history.extend(
            (booking_id, old, step["status"], step["actor"], step["reason"], step["at"])
            for _, booking_id, _user, _ref, old, step in steps_all)
        hospital_of = {booking[0]: (booking[3], booking[4]) for booking in bookings}
        for _, booking_id, user_id, ref, _old, step in steps_all:
            why = f": {step['reason']}" if step["reason"] else "."
            creation_notes.append(
                (user_id, booking_id, f"booking_{step['status']}", f"Booking {step['status']}",
                 f"Your booking {ref} is now {step['status']}{why}", step["at"]))
            if step["status"] == "cancelled" and step["actor"] == user_id:
                # migration 0065: the patient's own cancellation is told to the hospital's staff
                hospital_id, resource_type = hospital_of[booking_id]
                creation_notes.append(
                    (authorities[hospital_id], booking_id, "booking_cancelled",
                     "Booking cancelled by the patient",
                     f"Booking {ref} ({resource_type}) was cancelled by the patient{why}",
                     step["at"]))
        transactions, earnings, ids = [], [], {}
        for p in payments:
            ids[p["ref"]] = transaction_id = self.next_transaction_id
            self.next_transaction_id += 1
            transactions.append((transaction_id, p["ref"], p["booking_id"], p["user_id"],
                                 p["hospital_id"], p["amount"], p["method"], p["status"], p["fee"],
                                 p["share"], p["created_at"], p["updated_at"], p["completed_at"]))
            if p["status"] == "completed":
                earnings.append((p["hospital_id"], transaction_id, p["share"], p["fee"],
                                 f"Booking payment {p['ref']}", p["completed_at"]))
        ledger = [(balances, [(row[0], row[1], ids.get(row[2]), *row[3:]) for row in rows])
                  for balances, rows in self._ledger_rounds()]
        return bookings, creation_history, creation_notes, transactions, earnings, ledger

    def _write_fast_rows(self, rows):
        bookings, history, notes, transactions, earnings, ledger = rows
        with transaction(self.conn):
            self.conn.executemany(
                """
                INSERT INTO bookings (id, booking_reference, user_id, hospital_id, resource_type,
                    patient_name, patient_age, patient_gender, medical_condition, urgency,
                    emergency_contact_name, emergency_contact_phone, emergency_contact_relationship,
                    scheduled_date, scheduled_end, scheduled_day, estimated_duration_hours, status,
                    allocated_units, amount_minor, status_changed_by, status_reason, approved_by,
                    approved_at, declined_at, cancelled_at, completed_at, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'Next of kin', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
                        ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                bookings,
            )
            self.conn.executemany(
                """
                INSERT INTO booking_status_history (booking_id, old_status, new_status, changed_by,
                                                    reason, created_at)
                VALUES (?, ?, ?, ?, ?, ?)
                """,
                history,
            )
            self.conn.executemany(
                """
                INSERT INTO booking_notifications (user_id, booking_id, type, title, message,
                                                   created_at)
                VALUES (?, ?, ?, ?, ?, ?)
                """,
                notes,
            )
            self.conn.executemany(
                """
                INSERT INTO transactions (id, transaction_ref, kind, booking_id, user_id,
                    hospital_id, amount_minor, method, status, platform_fee_minor,
                    hospital_share_minor, created_at, updated_at, completed_at)
                VALUES (?, ?, 'booking_payment', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                transactions,
            )
            self.conn.executemany(
                """
                INSERT INTO hospital_earnings (hospital_id, transaction_id, share_minor, fee_minor,
                                               description, created_at)
                VALUES (?, ?, ?, ?, ?, ?)
                """,
                earnings,
            )
            self._write_ledger(ledger, "?")

    def _write_payments(self, payments):
        self.conn.executemany(
            """
            INSERT INTO transactions (transaction_ref, kind, booking_id, user_id, hospital_id,
                amount_minor, method, status, platform_fee_minor, hospital_share_minor,
                created_at, updated_at, completed_at)
            VALUES (:ref, 'booking_payment', :booking_id, :user_id, :hospital_id, :amount,
                    :method, :status, :fee, :share, :created_at, :updated_at, :completed_at)
            """,
            payments,
        )
        self.conn.executemany(
            """
            INSERT INTO hospital_earnings (hospital_id, transaction_id, share_minor, fee_minor,
                                           description, created_at)
            VALUES (:hospital_id, (SELECT id FROM transactions WHERE transaction_ref = :ref),
                    :share, :fee, 'Booking payment ' || :ref, :completed_at)
            """,
            [p for p in payments if p["status"] == "completed"],
        )
        self._flush_ledger()

    def _one_booking(self):
        # The draws of random.Random.choice/randint/randrange, made straight from _randbelow as
        # CPython's random.py makes them (same calls, same results: tests/test_loader.py checks
        # it against the public methods); their argument-checking wrappers were a third of the
        # row generation time. choice(s) = s[below(len(s))], randint(a, b) = a + below(b - a + 1).
        rng = self.rng
        below = rng._randbelow
        booking_id = self.next_booking_id
        self.next_booking_id += 1
        hospitals = self.hospitals
        hospital = hospitals[below(len(hospitals))]
        hospital_id = hospital["id"]
        resource_type = _pick(rng, _RESOURCE_CHOICE)
        status = _pick(rng, _STATE_CHOICE)
        urgency = _pick(rng, _URGENCY_CHOICE)
        low, high = RESOURCES[resource_type][2]
        hours = low + below(high - low + 1)
        amount, _ = calculate_amount(hospital["prices"][resource_type], hours, urgency)
        if status in ("pending", "approved"):
            created = self.now - timedelta(minutes=5 + below(14 * 24 * 60 - 5 + 1))
            user_id, scheduled = self._open_slot(hospital_id, resource_type)
        else:
            user_ids = self.user_ids
            while True:
                created = self.now - timedelta(
                    minutes=60 * 24 * 30 + below(HISTORY_DAYS * 24 * 60 - 60 * 24 * 30 + 1))
                user_id = user_ids[below(len(user_ids))]
                scheduled = created + timedelta(hours=2 + below(14 * 24 - 2 + 1))
                # inserted 'pending' before its transitions run: unique within the batch too
                slot = (user_id, hospital_id, resource_type, (scheduled + DHAKA_OFFSET).date())
                if slot not in self._batch_slots:
                    self._batch_slots.add(slot)
                    break
        year = created.year
        counter = self.reference_counters[year] = self.reference_counters.get(year, 0) + 1
        created_at = _iso(created)
        booking = {
            "id": booking_id,
            "booking_reference": f"RC-{year}-{counter:06d}",
            "user_id": user_id, "hospital_id": hospital_id, "resource_type": resource_type,
            "patient_name": f"{FIRST[below(len(FIRST))]} {LAST[below(len(LAST))]}",
            "patient_age": below(96), "patient_gender": GENDERS[below(3)],
            "medical_condition": CONDITIONS[below(len(CONDITIONS))], "urgency": urgency,
            "contact_phone": f"+88018{below(10**8):08d}",
            "relationship": RELATIONSHIPS[below(4)],
            "scheduled_date": _iso(scheduled),
            "scheduled_end": _iso(scheduled + timedelta(hours=hours)),
            "scheduled_day": (scheduled + DHAKA_OFFSET).date().isoformat(),
            "hours": hours, "amount_minor": amount, "created_at": created_at,
        }
        steps, payment = [], None
        authority = hospital["authority_id"]
        decided = created + timedelta(minutes=5 + below(600 - 5 + 1))
        if status in ("approved", "completed") or (status == "cancelled" and rng.random() < 0.5):
            steps.append(_step(booking_id, 1, "approved", 1, authority, None, _iso(decided),
                               "approved_at", approved_by=authority))
            if status == "approved":
                payment = self._payment(booking, hospital, "pending", decided)
        if status == "completed":
            finished = scheduled + timedelta(hours=hours)
            steps.append(_step(booking_id, 2, "completed", 0, authority, None, _iso(finished),
                               "completed_at"))
            payment = self._payment(booking, hospital, "completed", decided + timedelta(minutes=30))
        elif status == "declined":
            steps.append(_step(booking_id, 1, "declined", 0, authority, "No capacity on that day",
                               _iso(decided), "declined_at"))
        elif status == "cancelled":
            cancelled = decided + timedelta(minutes=10 + below(3000 - 10 + 1))
            steps.append(_step(booking_id, 2, "cancelled", 0, user_id, "Plans changed",
                               _iso(cancelled), "cancelled_at"))
        return booking, steps, payment

    def _open_slot(self, hospital_id, resource_type):
        """A user and a future time with no other open booking of theirs for that
        hospital, type and day (the schema allows one)."""
        below, user_ids = self.rng._randbelow, self.user_ids
        while True:
            user_id = user_ids[below(len(user_ids))]  # rng.choice
            scheduled = self.now + timedelta(minutes=24 * 60 + below(40 * 24 * 60 - 24 * 60 + 1))
            day = (scheduled + DHAKA_OFFSET).date()
            slot = (user_id, hospital_id, resource_type, day)
            if slot not in self.open_slots:
                self.open_slots.add(slot)
                return user_id, scheduled

    def _payment(self, booking, hospital, status, at):
        amount = booking["amount_minor"]
        at = _iso(at)
        payment = {"ref": f"BENCH-{booking['id']}", "booking_id": booking["id"],
                   "user_id": booking["user_id"], "hospital_id": hospital["id"], "amount": amount,
                   "method": None, "status": status, "fee": None, "share": None,
                   "created_at": at, "updated_at": at, "completed_at": None}
        if status == "completed":
            fee, share = split_fee(amount, hospital["fee_bp"])
            payment.update(fee=fee, share=share, completed_at=at)
            if self.rng.random() < 1 / 3:
                payment["method"] = "wallet"
                self._pending_debits.append((booking["user_id"], amount, payment["ref"], at))
            else:
                payment["method"] = "sslcommerz"
        return payment

    # --- wallet ledger ----------------------------------------------------------------------

    def _ledger_row(self, user_id, kind, amount, transaction_ref, description, at):
        before = self.balances.get(user_id, 0)
        after = before + amount if kind in ("credit", "refund") else before - amount
        self.balances[user_id] = after
        self._pending_ledger.append((self.next_ledger_id, user_id, transaction_ref, kind, amount,
                                     before, after, description, at))
        self.next_ledger_id += 1

    def _flush_ledger(self):
        # the trigger path: transactions got their ids from SQLite, look them up by reference
        self._write_ledger(self._ledger_rounds(),
                           "(SELECT id FROM transactions WHERE transaction_ref = ?)")

    def _ledger_rounds(self):
        """The batch's ledger rows in the order the wallet code writes them: the balance
        first, then the row that ends at it (a later migration's trigger insists on that
        order), so a user's rows go in rounds: round k holds every user's k-th new row.
        Returns [(user_balance rows, balance_transactions rows)] per round."""
        for user_id, amount, ref, at in self._pending_debits:
            self._ledger_row(user_id, "debit", amount, ref, f"Payment {ref}", at)
        self._pending_debits.clear()
        rounds, seen = [], {}
        for row in self._pending_ledger:
            k = seen.get(row[1], 0)
            seen[row[1]] = k + 1
            if k == len(rounds):
                rounds.append([])
            rounds[k].append(row)
        self._pending_ledger = []
        return [([(row[1], row[6], row[8]) for row in rows], rows) for rows in rounds]

    def _write_ledger(self, rounds, transaction_id_sql):
        """transaction_id_sql: the SQL for the third column of a ledger row ('?' when the rows
        carry the transaction id itself, a lookup when they carry its reference)."""
        for balances, rows in rounds:
            self.conn.executemany(
                """
                INSERT INTO user_balance (user_id, balance_minor, updated_at) VALUES (?, ?, ?)
                ON CONFLICT (user_id) DO UPDATE SET balance_minor = excluded.balance_minor,
                                                    updated_at = excluded.updated_at
                """,
                balances,
            )
            self.conn.executemany(
                f"""
                INSERT INTO balance_transactions (id, user_id, transaction_id, type, amount_minor,
                    balance_before_minor, balance_after_minor, description, created_at)
                VALUES (?, ?, {transaction_id_sql}, ?, ?, ?, ?, ?, ?)
                """,
                rows,
            )

    # --- what was written -------------------------------------------------------------------

    def table_rows(self):
        """Rows per table, triggers' rows included (the honest denominator for rows/s)."""
        return {
            table: self.conn.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"]
            for table in COUNTED_TABLES
        }

    # --- consistent totals ----------------------------------------------------------------

    def finish(self):
        """Counters with room for every approved hold; wallets = their ledgers; reference
        counters past every loaded reference; fresh statistics for the planner."""
        started = time.perf_counter()
        stamp = to_iso(self.now)
        with transaction(self.conn):
            self.conn.execute(
                """
                UPDATE hospital_resources AS r SET
                    occupied = 0,
                    total = max(r.total, held.n + r.reserved + r.maintenance + 100),
                    available = max(r.total, held.n + r.reserved + r.maintenance + 100)
                                - r.reserved - r.maintenance
                FROM (SELECT hospital_id, resource_type, count(*) AS n FROM bookings
                      WHERE status = 'approved' GROUP BY hospital_id, resource_type) AS held
                WHERE held.hospital_id = r.hospital_id AND held.resource_type = r.resource_type
                """
            )
            self.conn.executemany(
                """
                INSERT INTO user_balance (user_id, balance_minor, updated_at) VALUES (?, ?, ?)
                ON CONFLICT (user_id) DO UPDATE SET balance_minor = excluded.balance_minor,
                                                    updated_at = excluded.updated_at
                """,
                [(user_id, balance, stamp) for user_id, balance in self.balances.items()],
            )
            self.conn.executemany(
                """
                INSERT INTO booking_reference_counters (year, last_value) VALUES (?, ?)
                ON CONFLICT (year) DO UPDATE SET last_value = max(last_value, excluded.last_value)
                """,
                list(self.reference_counters.items()),
            )
        self.conn.execute("ANALYZE")
        self.seconds += time.perf_counter() - started

    def seal(self, keys=TEST_OVERRIDES["ENCRYPTION_KEYS"]):
        """Seal the patient fields of every booking loaded so far as the service stores
        them: one AES-GCM envelope per booking plus its blind-index tokens (migration
        0142). The load writes those fields as plaintext columns, the form before 0142
        (both load paths stay comparable row for row, tests/test_loader.py; a sealed
        value differs on every write); this moves them into the envelope by the path an
        operator's ``flask keys reencrypt`` takes (app.crypto.rotation), so a served
        benchmark opens ciphertext on every booking it reads, as production does.
        ``keys``: the ring the served service is given (tests/live_server.py gives it
        TEST_OVERRIDES'). Returns the seconds taken."""
        started = time.perf_counter()
        configure_encryption({**DEFAULTS, "ENV": "development", "ENCRYPTION_KEYS": keys,
                              "ENCRYPTION_KEY_FILE": "", "ENCRYPT_FIELDS": True})
        rotation.reencrypt(self.conn, batch_size=2000)
        self.conn.execute("ANALYZE")
        spent = time.perf_counter() - started
        self.seconds += spent
        return spent


def loaded_database(path, bookings, *, hospitals=100, users=10_000):
    """A new migrated SQLite database at ``path`` loaded with ``bookings`` bookings, their
    patient fields sealed as the service stores them: (connection, loader, now). The
    set-up of the benchmarks that measure one fixed data set (ceiling, cpu_per_request,
    logging_ab)."""
    conn = connect(str(path))
    migrator.upgrade(conn, DEFAULTS["MIGRATIONS_DIR"], log=lambda _line: None)
    now = utcnow()
    loader = Loader(conn, now=now)
    loader.load_base(hospitals=hospitals, users=users)
    loader.load_bookings(bookings)
    loader.finish()
    loader.seal()
    return conn, loader, now


# What _fast_rows reads and changes: copied into the generator process, and the changed part
# copied back when it is done, so the parent continues exactly where the generator stopped.
_GENERATOR_INPUT = ("now", "rng", "hospitals", "user_ids", "fast", "batch_size")
_GENERATOR_STATE = ("rng", "next_booking_id", "next_ledger_id", "next_transaction_id",
                    "reference_counters", "balances", "open_slots")


def _generate(state, sizes, out):
    """The generator process: a connection-less Loader producing the batches in order."""
    loader = Loader.__new__(Loader)
    loader.__dict__.update(state, conn=None, _pending_debits=[], _pending_ledger=[],
                           _batch_slots=set())
    for size in sizes:
        # pickled here, in this process; plain tuples of str/int/None unpickle fast
        out.send_bytes(pickle.dumps(loader._fast_rows(size), protocol=pickle.HIGHEST_PROTOCOL))
    out.send_bytes(pickle.dumps({name: getattr(loader, name) for name in _GENERATOR_STATE},
                                protocol=pickle.HIGHEST_PROTOCOL))
    out.close()


class _GeneratorProcess:
    """Builds the fast path's rows in a second process while this one inserts: the pipe holds
    one batch, so batch N+1 is generated while batch N is written. The draws are the same as
    in-process generation (same state, same order), so a seed still gives the same data."""

    def __init__(self, loader, sizes):
        if loader._pending_debits or loader._pending_ledger:
            raise RuntimeError("unflushed ledger rows: cannot hand generation over")
        # fork: the child inherits the code and the pipe without re-importing the main module
        # (scripts without a __main__ guard work). It never touches the inherited sqlite
        # connection, and multiprocessing ends it with os._exit, so nothing closes it there.
        context = multiprocessing.get_context("fork")
        self.receiver, sender = context.Pipe(duplex=False)
        state = {name: getattr(loader, name) for name in _GENERATOR_INPUT + _GENERATOR_STATE}
        self.process = context.Process(target=_generate, args=(state, sizes, sender),
                                       name="loader-generator", daemon=True)
        self.process.start()
        sender.close()  # only the child writes: EOF here when it exits
        self.wait_seconds = 0.0  # blocked waiting for the next batch: the generator is behind

    def next_batch(self):
        try:
            started = time.perf_counter()
            data = self.receiver.recv_bytes()
            self.wait_seconds += time.perf_counter() - started
            return pickle.loads(data)
        except EOFError:
            raise RuntimeError("the loader's generator process ended early (see its traceback "
                               "above)") from None

    def finish(self, loader):
        loader.__dict__.update(self.next_batch())
        self.process.join()

    def close(self):
        if self.process.is_alive():
            self.process.terminate()
        self.process.join()
        self.receiver.close()
