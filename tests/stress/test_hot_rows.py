"""Rows that every request of a kind writes queue their writers on PostgreSQL.

Every booking of a year takes the next number of one counter row. Under SERIALIZABLE,
writers of one row abort each other unless they wait their turn before their
snapshot is taken (app.db.queue_lock). With POSTGRES_RETRIES=0 an aborted request
is a 503 at once, so one abort among the racing creates fails this test.
"""
import pytest

from tests.bookings.helpers import booking_body, future
from tests.bookings.test_concurrency import fire
from tests.factories import Factory
from tests.live_server import LiveServer

pytestmark = [pytest.mark.slow, pytest.mark.postgres_only]

RACERS = 12


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with LiveServer(tmp_path_factory.mktemp("hot"), workers=4,
                    env={"RAPIDCARE_POSTGRES_RETRIES": "0"}) as live:
        yield live


def test_parallel_creates_queue_for_the_reference_counter_instead_of_aborting(server):
    conn = server.connect()
    try:
        make = Factory(conn)
        hospitals = [make.hospital(resources={"beds": 20}, prices={"beds": 150000}) for _ in range(3)]
        patients = [make.user() for _ in range(RACERS)]
        codes = fire(server, [
            ("POST", "/api/bookings", make.auth(patient),
             booking_body(hospitals[i % 3], scheduledDate=future(days=2 + i % 5)))
            for i, patient in enumerate(patients)])
        references = sorted(row["booking_reference"] for row in conn.execute(
            "SELECT booking_reference FROM bookings").fetchall())
    finally:
        conn.close()
    assert codes == [201] * RACERS
    numbers = [int(reference.rsplit("-", 1)[1]) for reference in references]
    assert numbers == list(range(numbers[0], numbers[0] + RACERS))  # no gap, none twice
