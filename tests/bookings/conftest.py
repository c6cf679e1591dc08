"""The cast of every booking scenario: a hospital with beds and a price, its
authority, another hospital with its own authority, two patients and an admin."""
from types import SimpleNamespace

import pytest


@pytest.fixture
def world(make):
    hospital = make.hospital(resources={"beds": 5, "icu": 1}, prices={"beds": 150000, "icu": 500000})
    other_hospital = make.hospital(resources={"beds": 5}, prices={"beds": 100000})
    cast = SimpleNamespace(
        hospital=hospital,
        other_hospital=other_hospital,
        patient=make.user(),
        other_patient=make.user(),
        authority=make.authority(hospital),
        other_authority=make.authority(other_hospital),
        admin=make.admin(),
        make=make,
    )
    cast.headers = {
        role: make.auth(getattr(cast, role))
        for role in ("patient", "other_patient", "authority", "other_authority", "admin")
    }
    cast.headers["anonymous"] = {}
    return cast
