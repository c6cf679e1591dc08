"""The compatibility table against an independent model: antigens on red cells.

A donor's red cells may go to a recipient only if they carry no antigen the
recipient lacks (the recipient would have antibodies against it): the donor's
antigens must be a subset of the recipient's. A, B and D (Rh) are the antigens.
"""
import itertools

import pytest

from app.blood.compatibility import BLOOD_TYPES, can_donate, donors_for, recipients_of

pytestmark = pytest.mark.no_database

ABO_ANTIGENS = {"O": set(), "A": {"A"}, "B": {"B"}, "AB": {"A", "B"}}


def antigens(blood_type):
    abo, rh = blood_type[:-1], blood_type[-1]
    return ABO_ANTIGENS[abo] | ({"D"} if rh == "+" else set())


ALL_PAIRS = list(itertools.product(BLOOD_TYPES, BLOOD_TYPES))


def test_there_are_eight_types_and_64_pairs():
    assert len(set(BLOOD_TYPES)) == 8 and len(ALL_PAIRS) == 64


@pytest.mark.parametrize("donor, recipient", ALL_PAIRS)
def test_every_pair_matches_the_antigen_model(donor, recipient):
    assert can_donate(donor, recipient) == (antigens(donor) <= antigens(recipient))


def test_universal_donor_and_universal_recipient():
    assert recipients_of("O-") == BLOOD_TYPES
    assert donors_for("AB+") == BLOOD_TYPES
    assert recipients_of("AB+") == ("AB+",)
    assert donors_for("O-") == ("O-",)


def test_rh_negative_recipients_never_take_rh_positive_blood():
    for donor, recipient in ALL_PAIRS:
        if donor.endswith("+") and recipient.endswith("-"):
            assert not can_donate(donor, recipient), (donor, recipient)


def test_known_number_of_compatible_pairs():
    # Per recipient: AB+ 8, AB- 4, A+ 4, A- 2, B+ 4, B- 2, O+ 2, O- 1.
    assert sum(can_donate(d, r) for d, r in ALL_PAIRS) == 27
    assert {r: len(donors_for(r)) for r in BLOOD_TYPES} == {
        "A+": 4, "A-": 2, "B+": 4, "B-": 2, "AB+": 8, "AB-": 4, "O+": 2, "O-": 1,
    }


@pytest.mark.parametrize("bad", ["C+", "a+", "", "O -", "AB", None, 5])
def test_unknown_types_are_refused(bad):
    with pytest.raises(ValueError):
        can_donate(bad, "A+")
    with pytest.raises(ValueError):
        can_donate("A+", bad)
