"""scripts/serve as an operator runs it: restarts after a crash of the master, one
service per database, and logs without patient data. On its default, SQLite (the
service lock is the SQLite file's): the PostgreSQL half skips these."""
import os
import re
import signal
import stat

import pytest
import requests

from app.ops import metrics
from tests.live_server import free_port
from tests.ops import helpers
from tests.ops.serving import Serve, wait_until_gone

pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only]


@pytest.fixture
def served(tmp_path):
    """Serve(...) runs that are stopped (whole process group) whatever the test did."""
    runs = []

    def make(name, *, database, port, env=None):
        run = Serve(tmp_path, database=database, port=port, name=name, env=env)
        runs.append(run)
        return run

    yield make
    for run in runs:
        run.stop()


def test_serve_restarts_at_once_after_only_the_master_was_killed(tmp_path, served):
    database = helpers.migrated_database(tmp_path / "live.sqlite3")
    port = free_port()
    first = served("first", database=database, port=port).start().wait_until_healthy()
    workers = first.worker_pids()
    assert workers

    os.kill(first.process.pid, signal.SIGKILL)  # the master alone: its workers are orphaned
    first.process.wait()
    second = served("second", database=database, port=port).start()

    # The workers die with their master instead of at their next parent check.
    assert wait_until_gone(workers, 2) == []
    second.wait_until_healthy()
    assert "Connection in use" not in second.output()


def _metrics_files(directory):
    return {name: os.path.getsize(os.path.join(directory, name))
            for name in os.listdir(directory) if name.endswith(".db")}


def _health_requests_counted(url):
    text = requests.get(url + "/metrics", timeout=10).text
    return sum(float(value) for value in re.findall(
        r'^rapidcare_http_requests_total\{[^}]*endpoint="/api/health"[^}]*status="200"[^}]*\} (\S+)$',
        text, re.MULTILINE))


@pytest.mark.parametrize("same_port", [True, False], ids=["same port", "another port"])
def test_a_second_serve_on_the_same_database_refuses_and_leaves_the_first_alone(
        tmp_path, served, same_port):
    database = helpers.migrated_database(tmp_path / "live.sqlite3")
    first = served("first", database=database, port=free_port()).start().wait_until_healthy()
    for _ in range(5):
        assert requests.get(first.url + "/api/health", timeout=10).status_code == 200
    counted = _health_requests_counted(first.url)
    assert counted >= 5
    directory = metrics.metrics_dir({"DATABASE": database})
    files = _metrics_files(directory)
    [control_socket] = re.findall(r"Control socket listening at (\S+)", first.output())

    second = served("second", database=database,
                    port=first.port if same_port else free_port()).start()
    assert second.wait_for_exit() != 0
    assert "already being served" in second.output()

    assert first.process.poll() is None
    assert set(files) <= set(_metrics_files(directory))  # not one metrics file removed
    assert _health_requests_counted(first.url) >= counted
    assert stat.S_ISSOCK(os.stat(control_socket).st_mode)


# --- logs without patient data --------------------------------------------------------

MARKER = "ZZPATIENTMARKER"
MARKED_QUERY = {"patientName": MARKER, "location": MARKER, "q": MARKER, "notes": MARKER}
MARKED_HEADERS = {"User-Agent": f"agent-{MARKER}", "Referer": f"http://example.test/?p={MARKER}",
                  "Idempotency-Key": f"key-{MARKER}"}


def _patient_data_setup(database):
    """An admin, an approved hospital with its authority, a patient: their auth headers."""
    conn = helpers.connect(database)
    try:
        make = helpers.Factory(conn)
        hospital = make.hospital(resources={"beds": 5, "icu": 2}, prices={"beds": 150000})
        roles = {"anonymous": {}, "user": make.auth(make.user()),
                 "authority": make.auth(make.authority(hospital)), "admin": make.auth(make.admin())}
    finally:
        conn.close()
    return hospital["id"], roles


def _send_patient_data(url, hospital_id, patient):
    """Real patient data through the endpoints that take it; they must accept it."""
    from datetime import timedelta

    from app.timeutil import to_iso, utcnow

    headers = {**patient, **MARKED_HEADERS}
    booking = requests.post(url + "/api/bookings", headers=headers, timeout=30, json={
        "hospitalId": hospital_id, "resourceType": "beds", "patientName": f"{MARKER} Rahman",
        "patientAge": 40, "patientGender": "female", "medicalCondition": f"{MARKER} fracture",
        "emergencyContactName": f"{MARKER} Karim", "emergencyContactPhone": "+880 1711 000000",
        "emergencyContactRelationship": f"{MARKER} sibling", "notes": f"{MARKER} notes",
        "scheduledDate": to_iso(utcnow() + timedelta(days=3)),
    })
    assert booking.status_code == 201, booking.text
    blood = requests.post(url + "/api/blood/request", headers=headers, timeout=30, json={
        "patientName": f"{MARKER} Begum", "bloodType": "O-", "unitsNeeded": 2,
        "contactPhone": "+880 1711 000001", "location": f"{MARKER} Dhanmondi",
        "medicalCondition": f"{MARKER} anaemia", "notes": f"{MARKER} notes",
    })
    assert blood.status_code == 201, blood.text
    found = requests.get(url + "/api/blood/requests", headers=headers, timeout=30,
                         params={"location": MARKER, "patientName": MARKER})
    assert found.status_code == 200 and found.json(), found.text  # the marker matched
    login = requests.post(url + "/api/auth/login", headers=MARKED_HEADERS, timeout=30,
                          json={"email": f"{MARKER.lower()}@example.test", "password": MARKER})
    assert login.status_code in (400, 401, 422), login.text


def _marked_body(spec, operation):
    """Every property of the operation's JSON body set to the marker."""
    content = operation.get("requestBody", {}).get("content", {})
    schema = (content.get("application/json") or content.get("application/x-www-form-urlencoded")
              or {}).get("schema", {})
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return {name: MARKER for name in schema.get("properties", {})} or {"patientName": MARKER}


def _drive_every_operation(url, roles):
    """Each operation of the OpenAPI document, as each role, with the marker in its path
    (string parameters), its query string, its body and its headers."""
    spec = requests.get(url + "/openapi.json", timeout=30).json()
    sent = 0
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            parameters = operation.get("parameters", []) + operations.get("parameters", [])
            concrete = path
            for parameter in parameters:
                if parameter["in"] == "path":
                    value = "1" if parameter.get("schema", {}).get("type") == "integer" else MARKER
                    concrete = concrete.replace("{" + parameter["name"] + "}", value)
            query = {**MARKED_QUERY, **{p["name"]: MARKER for p in parameters if p["in"] == "query"}}
            for auth in roles.values():
                response = requests.request(
                    method, url + concrete, params=query, json=_marked_body(spec, operation),
                    headers={**auth, **MARKED_HEADERS}, timeout=30)
                assert response.status_code < 500, (method, concrete, response.text)
                sent += 1
    return sent


def test_no_patient_data_in_any_log_output(tmp_path, served):
    database = helpers.migrated_database(tmp_path / "live.sqlite3")
    hospital_id, roles = _patient_data_setup(database)
    # Logging as deployed (no RAPIDCARE_LOG_LEVEL: INFO); no gateway call leaves the host.
    serve = served("serve", database=database, port=free_port(),
                   env={"RAPIDCARE_SSLCOMMERZ_BASE_URL": "http://127.0.0.1:9"})
    serve.start().wait_until_healthy()

    _send_patient_data(serve.url, hospital_id, roles["user"])
    assert _drive_every_operation(serve.url, roles) > 200
    serve.stop()  # graceful: every worker flushes its output

    logs = {path.name: path.read_text(errors="replace") for path in tmp_path.rglob("*")
            if path.is_file() and path.suffix in {".stdout", ".stderr", ".log"}}
    assert '"route": "/api/bookings"' in "".join(logs.values())  # the request log was on
    leaked = {name: [line for line in text.splitlines() if MARKER.lower() in line.lower()]
              for name, text in logs.items()}
    assert {name: lines for name, lines in leaked.items() if lines} == {}
