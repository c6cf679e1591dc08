"""Times are stored as UTC ISO-8601 text; services take ``now`` as an argument."""
from datetime import datetime, timezone
from zoneinfo import ZoneInfo


def utcnow():
    return datetime.now(timezone.utc)


def to_iso(moment):
    """UTC ISO-8601 with offset and whole seconds' precision kept to microseconds."""
    if moment.tzinfo is None:
        raise ValueError("naive datetimes are not allowed; attach a time zone")
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def from_iso(text):
    return datetime.fromisoformat(text) if text else None


def local_date(moment, tz_name):
    """The calendar date of ``moment`` in the given zone (e.g. the hospital's day)."""
    return moment.astimezone(ZoneInfo(tz_name)).date()
