"""Shared arrangement for the hospital, resource, pricing and admin tests."""
from dataclasses import dataclass

import pytest


@dataclass
class World:
    """An approved hospital with its authority, a second hospital with its own
    authority, two patients and an admin; ``headers[role]`` authenticates as each."""

    hospital: dict
    other_hospital: dict
    authority: dict
    other_authority: dict
    patient: dict
    other_patient: dict
    admin: dict
    headers: dict


ROLES = ("anonymous", "patient", "other_patient", "authority", "other_authority", "admin")
MANAGERS = ("authority", "admin")


def build_world(make, *, status="approved"):
    hospital = make.hospital(status=status, name="Dhaka Heart Centre",
                             resources={"beds": 10, "icu": 2}, prices={"beds": 150000},
                             specialties=("cardiology",))
    other = make.hospital(name="Sylhet General", resources={"beds": 5})
    people = {
        "authority": make.authority(hospital),
        "other_authority": make.authority(other),
        "patient": make.user(),
        "other_patient": make.user(),
        "admin": make.admin(),
    }
    headers = {role: make.auth(user) for role, user in people.items()}
    headers["anonymous"] = {}
    return World(hospital=hospital, other_hospital=other, headers=headers, **people)


def expected_denial(role):
    """What a role that may not act gets: 401 anonymous, 403 wrong role, 404 another
    hospital's authority (its objects are never confirmed to exist)."""
    if role == "anonymous":
        return 401
    if role in ("patient", "other_patient"):
        return 403
    return 404


@pytest.fixture
def world(make):
    return build_world(make)
