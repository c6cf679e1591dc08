"""The cast of every blood scenario: two patients, two hospitals with an authority each, an admin."""
from types import SimpleNamespace

import pytest


@pytest.fixture
def cast(make):
    hospital = make.hospital()
    other_hospital = make.hospital()
    people = {
        "patient": make.user(),
        "other_patient": make.user(),
        "authority": make.authority(hospital),
        "other_authority": make.authority(other_hospital),
        "admin": make.admin(),
    }
    return SimpleNamespace(
        hospital=hospital, other_hospital=other_hospital, **people,
        headers={role: make.auth(user) for role, user in people.items()},
    )
