"""Red-cell compatibility between ABO/Rh blood types: who may give to whom.

ABO: O gives to every group, A to A and AB, B to B and AB, AB only to AB.
Rh: an Rh- recipient takes only Rh- blood; an Rh+ recipient takes either.
So O- gives to all eight types and AB+ receives from all eight.
"""

BLOOD_TYPES = ("A+", "A-", "B+", "B-", "AB+", "AB-", "O+", "O-")

# ABO group of the donor -> ABO groups that may receive its red cells.
_ABO_RECIPIENTS = {
    "O": frozenset({"O", "A", "B", "AB"}),
    "A": frozenset({"A", "AB"}),
    "B": frozenset({"B", "AB"}),
    "AB": frozenset({"AB"}),
}


def _split(blood_type):
    if blood_type not in BLOOD_TYPES:
        raise ValueError(f"unknown blood type {blood_type!r}")
    return blood_type[:-1], blood_type[-1]


def can_donate(donor_type, recipient_type):
    """True if red cells of ``donor_type`` may be given to ``recipient_type``."""
    donor_abo, donor_rh = _split(donor_type)
    recipient_abo, recipient_rh = _split(recipient_type)
    rh_ok = donor_rh == "-" or recipient_rh == "+"
    return recipient_abo in _ABO_RECIPIENTS[donor_abo] and rh_ok


def recipients_of(donor_type):
    """The blood types a donor of ``donor_type`` can give to, in BLOOD_TYPES order."""
    return tuple(t for t in BLOOD_TYPES if can_donate(donor_type, t))


def donors_for(recipient_type):
    """The blood types that can give to ``recipient_type``, in BLOOD_TYPES order."""
    return tuple(t for t in BLOOD_TYPES if can_donate(t, recipient_type))
