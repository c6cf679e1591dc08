"""What the benchmark sends: one request factory per scenario, written against the
HTTP contract (shared/API.md), plus the data each needs (tokens, work pools).

A scenario lists the routes it needs; ``Bench.available`` says whether the
running build publishes them (tests/stress/scenarios.Routes reads /openapi.json),
so scenarios of domains that are not merged yet are skipped with a note.

Work that can be done only once (approving a booking, paying it) is drawn from
pools read out of the loaded data and split between connections, so no request
repeats another's work.
"""
import random
import uuid
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote

from app.auth.tokens import new_token
from app.db import transaction
from app.timeutil import to_iso
from benchmarks.loadgen import Request
from tests.stress.scenarios import Routes

DHAKA_OFFSET = timedelta(hours=6)


@dataclass
class Scenario:
    name: str
    routes: tuple  # (method, path) pairs it needs
    factory: object  # (index, n) -> Request | None
    expected: tuple = (200,)
    write: bool = False
    in_mix: bool = True  # the write-contention mix draws its reads from these


def mint_tokens(conn, user_ids, now, *, hours=24):
    """A live bearer token per user, written straight to api_tokens (no bcrypt login)."""
    tokens, rows = {}, []
    for user_id in user_ids:
        token, token_hash = new_token()
        tokens[user_id] = token
        rows.append((user_id, token_hash, to_iso(now), to_iso(now + timedelta(hours=hours))))
    with transaction(conn):
        conn.executemany(
            "INSERT INTO api_tokens (user_id, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?)",
            rows,
        )
    return tokens


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


class Bench:
    """Everything the scenarios draw on; built once the data is loaded."""

    def __init__(self, conn, loader, *, now, connections, seed=11):
        self.conn = conn
        self.loader = loader
        self.now = now
        self.connections = connections
        self.rng = random.Random(seed)
        self.hospital_ids = [h["id"] for h in loader.hospitals]
        self.search_terms = sorted({h["city"] for h in loader.hospitals}
                                   | {s for h in loader.hospitals for s in h["specialties"]})
        self.user_tokens = mint_tokens(conn, loader.user_ids, now)
        self.authority_tokens = mint_tokens(
            conn, [h["authority_id"] for h in loader.hospitals], now)
        self.authority_of = {h["id"]: h["authority_id"] for h in loader.hospitals}
        self.routes = None
        self._pools = {}
        self._create_day = 45  # creation scenarios book days nobody else uses

    def use_server(self, base_url):
        self.routes = Routes.of(base_url)

    def available(self, scenario):
        return not self.routes.missing(*scenario.routes)

    def missing(self, scenario):
        return self.routes.missing(*scenario.routes)

    # --- pools of one-time work ------------------------------------------------------------

    def pending_pool(self, size):
        """Pending bed bookings (future) in random order, never handed out twice."""
        taken = self._pools.setdefault("pending", set())
        rows = self.conn.execute(
            "SELECT id, hospital_id FROM bookings WHERE status = 'pending' AND resource_type = 'beds'"
        ).fetchall()
        rows = [r for r in rows if r["id"] not in taken]
        self.rng.shuffle(rows)
        pool = rows[:size]
        taken.update(r["id"] for r in pool)
        return pool

    def payable_pool(self, size):
        """Approved bookings whose payment is due, in random order, never handed out twice."""
        taken = self._pools.setdefault("payable", set())
        rows = self.conn.execute(
            """
            SELECT b.id, b.user_id FROM bookings AS b
            JOIN transactions AS t ON t.booking_id = b.id AND t.status = 'pending'
            WHERE b.status = 'approved'
            """
        ).fetchall()
        rows = [r for r in rows if r["id"] not in taken]
        self.rng.shuffle(rows)
        pool = rows[:size]
        taken.update(r["id"] for r in pool)
        return pool

    def creation_days(self):
        """A fresh day offset for each creation scenario: (user, day) pairs never repeat."""
        first = self._create_day
        self._create_day += 5
        return first

    # --- request factories -------------------------------------------------------------

    def health(self):
        return lambda i, n: Request("GET", "/api/health", kind="read")

    def search(self):
        terms = [quote(term) for term in self.search_terms]  # "Cox's Bazar" has a space

        def factory(i, n):
            return Request("GET", f"/api/hospitals?q={terms[(i * 7 + n) % len(terms)]}", kind="read")
        return factory

    def hospital_detail(self):
        ids = self.hospital_ids
        return lambda i, n: Request("GET", f"/api/hospitals/{ids[(i * 31 + n) % len(ids)]}", kind="read")

    def availability(self):
        ids = self.hospital_ids
        return lambda i, n: Request(
            "GET", f"/api/hospital-resources/{ids[(i * 17 + n) % len(ids)]}/beds/availability",
            kind="read")

    def my_bookings(self, page_size=None):
        """The default page (20) is the real use. ``page_size=1`` returns one row at every
        data size (at 10k bookings a user holds ~1 booking, at 1M ~100), so its growth
        is the cost of the data alone, not of a page that also grew from 1 row to 20."""
        users = self.loader.user_ids
        tokens = self.user_tokens
        path = "/api/bookings/my-bookings" + (f"?page_size={page_size}" if page_size else "")

        def factory(i, n):
            user_id = users[(i * 613 + n * 7) % len(users)]
            return Request("GET", path, headers=bearer(tokens[user_id]), kind="read")
        return factory

    def profile_update(self):
        users = self.loader.user_ids
        tokens = self.user_tokens

        def factory(i, n):
            user_id = users[(i * 613 + n * 7) % len(users)]
            return Request("PUT", "/api/auth/profile", headers=bearer(tokens[user_id]),
                           body={"name": f"Bench User {n}"}, kind="profile")
        return factory

    def create_booking(self):
        users, hospitals, tokens = self.loader.user_ids, self.hospital_ids, self.user_tokens
        connections, first_day, base = self.connections, self.creation_days(), self.now

        def factory(i, n):
            k = i + connections * n  # unique per request across connections
            user_id = users[k % len(users)]
            day = first_day + k // len(users)  # (user, day) never repeats: no "already booked"
            scheduled = (base + timedelta(days=day)).replace(hour=4, minute=0, second=0,
                                                             microsecond=0)
            return Request("POST", "/api/bookings", headers=bearer(tokens[user_id]), kind="create",
                           body={
                               "hospitalId": hospitals[k % len(hospitals)], "resourceType": "beds",
                               "patientName": "Bench Patient", "patientAge": 30 + k % 50,
                               "patientGender": "female", "medicalCondition": "Observation",
                               "urgency": ("low", "medium", "high", "critical")[k % 4],
                               "emergencyContactName": "Kin",
                               "emergencyContactPhone": "+8801700000000",
                               "emergencyContactRelationship": "sibling",
                               "scheduledDate": to_iso(scheduled), "estimatedDuration": 24,
                           })
        return factory

    def approve(self, pool):
        tokens, authority_of, connections = self.authority_tokens, self.authority_of, self.connections

        def factory(i, n):
            k = i + connections * n
            if k >= len(pool):
                return None
            booking = pool[k]
            return Request("PUT", f"/api/bookings/{booking['id']}/approve", kind="approve", body={},
                           headers=bearer(tokens[authority_of[booking["hospital_id"]]]))
        return factory

    def pay(self, pool):
        tokens, connections = self.user_tokens, self.connections

        def factory(i, n):
            k = i + connections * n
            if k >= len(pool):
                return None
            booking = pool[k]
            return Request("POST", "/api/payments/process", kind="pay",
                           headers={**bearer(tokens[booking["user_id"]]),
                                    "Idempotency-Key": str(uuid.uuid4())},
                           body={"bookingId": booking["id"], "method": "wallet"})
        return factory

    # --- the scenario lists --------------------------------------------------------------

    def read_scenarios(self):
        return [
            Scenario("health", (("GET", "/api/health"),), self.health()),
            Scenario("hospital search", (("GET", "/api/hospitals"),), self.search()),
            Scenario("hospital detail", (("GET", "/api/hospitals/1"),), self.hospital_detail()),
            Scenario("availability", (("GET", "/api/hospital-resources/1/beds/availability"),),
                     self.availability()),
            Scenario("my bookings", (("GET", "/api/bookings/my-bookings"),), self.my_bookings()),
            Scenario("my bookings, page of 1", (("GET", "/api/bookings/my-bookings"),),
                     self.my_bookings(page_size=1), in_mix=False),
        ]

    def write_scenarios(self, pool_size):
        return [
            Scenario("profile update (write)", (("PUT", "/api/auth/profile"),),
                     self.profile_update(), write=True),
            Scenario("create booking", (("POST", "/api/bookings"),), self.create_booking(),
                     expected=(201,), write=True),
            Scenario("approve booking", (("PUT", "/api/bookings/1/approve"),),
                     self.approve(self.pending_pool(pool_size)), write=True),
            Scenario("wallet payment", (("POST", "/api/payments/process"),),
                     self.pay(self.payable_pool(pool_size)), write=True),
        ]

    def mix(self, pool_size):
        """Writes and reads interleaved on every connection: 3 of 10 requests create,
        2 approve, 2 pay, 3 read. Writes whose endpoint is missing are left out; with
        none of them present, profile updates stand in as the write."""
        writes = [s for s in self.write_scenarios(pool_size)[1:] if self.available(s)]
        reads = [s for s in self.read_scenarios()[1:] if s.in_mix and self.available(s)]
        reads = reads or [self.read_scenarios()[0]]
        if writes:
            by_name = {s.name: s for s in writes}
            plan = ["create booking"] * 3 + ["approve booking"] * 2 + ["wallet payment"] * 2
            plan = [name for name in plan if name in by_name]
            write_factories = [by_name[name].factory for name in plan]
            write_names = sorted(by_name)
        else:
            write_factories = [self.profile_update()] * 7
            write_names = ["profile update (stand-in: no booking/payment endpoint yet)"]
        slots = write_factories + [s.factory for s in reads] * 3
        order = list(range(len(slots)))
        random.Random(5).shuffle(order)
        counters = {}

        def factory(i, n):
            slot = slots[order[n % len(order)]]
            # one counter per connection and factory (a factory fills several slots), so a
            # connection walks each work pool once and never repeats a booking or a day
            key = (i, id(slot))
            counters[key] = counters.get(key, -1) + 1
            request = slot(i, counters[key])
            if request is None:  # a pool ran dry: fall back to a read, keep the pressure on
                return reads[0].factory(i, n)
            return request

        expected = (200, 201)
        return write_names, [s.name for s in reads], factory, expected
