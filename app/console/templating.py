"""Template filters of the console pages: money, times and the domain's words, for people."""
from zoneinfo import ZoneInfo

from flask import current_app

from app.console import bp
from app.money import format_minor
from app.timeutil import from_iso

RESOURCE_LABELS = {"beds": "Beds", "icu": "ICU", "operationTheatres": "Operation theatres"}


@bp.app_template_filter("money")
def money(amount_minor, currency=None):
    if amount_minor is None:
        return "—"
    return f"{format_minor(amount_minor)} {currency or current_app.config['CURRENCY']}"


@bp.app_template_filter("when")
def when(iso_text, with_date=True):
    """A stored UTC time in the platform's time zone: "02 Dec 2026 14:05"."""
    if not iso_text:
        return "—"
    moment = from_iso(iso_text).astimezone(ZoneInfo(current_app.config["TIMEZONE"]))
    return moment.strftime("%d %b %Y %H:%M" if with_date else "%H:%M")


@bp.app_template_filter("resource_label")
def resource_label(resource_type):
    return RESOURCE_LABELS.get(resource_type, resource_type)
