"""benchmarks/domain_only_app.py, the measuring stick of benchmarks/ceiling.py: it must do
the same domain work as the service, or the ceiling it reports means nothing."""
import importlib
from datetime import timedelta

import pytest

from app.config import TEST_OVERRIDES


@pytest.mark.sqlite_only
def test_the_domain_only_app_reads_what_the_service_reads(app, client, make, monkeypatch):
    hospital = make.hospital(resources={"beds": 3, "icu": 1}, prices={"beds": 150000},
                             city="Sylhet")
    make.hospital(city="Khulna")
    patient = make.user()
    first = make.booking(patient, hospital, status="approved", patient_name="Rahim Uddin",
                         scheduled_in=-timedelta(hours=1))  # holds a bed now
    second = make.booking(make.user(), hospital, resource_type="icu", patient_name="Other")
    token = make.token(patient)
    for name, value in {"RAPIDCARE_ENV": "development", "RAPIDCARE_DATABASE": app.config["DATABASE"],
                        "RAPIDCARE_SECRET_KEY": TEST_OVERRIDES["SECRET_KEY"],
                        "RAPIDCARE_ENCRYPTION_KEYS": TEST_OVERRIDES["ENCRYPTION_KEYS"],
                        "RAPIDCARE_DATABASE_URL": ""}.items():
        monkeypatch.setenv(name, value)
    bare = importlib.import_module("benchmarks.domain_only_app").app.test_client()
    auth = {"Authorization": f"Bearer {token}"}

    served = client.get(f"/api/hospitals/{hospital['id']}").get_json()
    measured = bare.get(f"/api/hospitals/{hospital['id']}").get_json()
    assert measured["name"] == served["name"]
    assert [(r["resource_type"], r["available"]) for r in measured["resources"]] == \
        [(r["resourceType"], r["available"]) for r in served["resources"]]
    assert [p["id"] for p in measured["prices"]] == [p["id"] for p in served["prices"]]

    path = f"/api/hospital-resources/{hospital['id']}/beds/availability"
    measured, served = bare.get(path).get_json(), client.get(path).get_json()
    assert (measured["available"], measured["total"]) == (served["available"], served["total"]) \
        == (2, 3)

    assert [h["id"] for h in bare.get("/api/hospitals?q=Sylhet").get_json()["items"]] == \
        [h["id"] for h in client.get("/api/hospitals?q=Sylhet").get_json()] == [hospital["id"]]

    measured = bare.get("/api/bookings/my-bookings", headers=auth).get_json()["items"]
    served = client.get("/api/bookings/my-bookings", headers=auth).get_json()
    assert [(b["id"], b["patient_name"]) for b in measured] == \
        [(b["id"], b["patientName"]) for b in served] == [(first["id"], "Rahim Uddin")]
    assert second["id"] not in [b["id"] for b in measured]
