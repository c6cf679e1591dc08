"""Screenshots of the console's main pages for the README (docs/console/*.png).

    .venv/bin/python -m tests.browser.screenshots [--out docs/console]

Starts the real service on a temporary database filled with a small, made-up
hospital day (factories and the resources domain's own audit query), signs in as
staff and as an admin in Debian's Chromium and saves each page.
"""
import argparse
import json
import tempfile
from datetime import timedelta
from pathlib import Path

from playwright.sync_api import sync_playwright

from app.db import transaction
from app.resources import queries as resources
from app.timeutil import to_iso, utcnow
from tests.browser.conftest import CHROMIUM
from tests.factories import PASSWORD, Factory
from tests.live_server import LiveServer

PATIENTS = [("Rahima Begum", "critical", "Chest pain, suspected MI", 95),
            ("Karim Uddin", "high", "Post-operative observation", 50),
            ("Nusrat Jahan", "medium", "Dengue, platelets falling", 35),
            ("Abdul Hakim", "medium", "COPD exacerbation", 20),
            ("Shirin Akter", "low", "Planned knee replacement", 8)]


def _history(conn, hospital, authority, now):
    """30 days of bed occupancy changes, as allocations and releases would write them:
    a busier morning and a quieter evening each day."""
    total, occupied = 40, 24
    with transaction(conn):
        for days_ago in range(29, 0, -1):
            evening = 20 + (days_ago * 7) % 13
            for hours_back, target in ((10, evening + 2 + days_ago % 4), (3, evening)):
                before = {"total": total, "available": total - occupied, "occupied": occupied,
                          "reserved": 0, "maintenance": 0}
                occupied = target
                after = {**before, "available": total - occupied, "occupied": occupied}
                resources.insert_audit_entry(
                    conn, hospital_id=hospital["id"], resource_type="beds", action="update",
                    old_values=before, new_values=after, changed_by=authority["id"],
                    now=to_iso(now - timedelta(days=days_ago, hours=hours_back)),
                    reason="ward round")
        conn.execute("UPDATE hospital_resources SET available = ?, occupied = ? "
                     "WHERE hospital_id = ? AND resource_type = 'beds'",
                     (total - occupied, occupied, hospital["id"]))


def arrange(server):
    conn = server.connect()
    make = Factory(conn)
    now = utcnow()
    hospital = make.hospital(name="Dhaka Heart Centre", resources={"beds": 40, "icu": 8,
                             "operationTheatres": 3}, prices={"beds": 150000, "icu": 900000},
                             specialties=("cardiology", "critical care"))
    authority = make.user("hospital-authority", hospital_id=hospital["id"], name="Dr. Farhana Islam",
                          email="farhana@dhakaheart.example")
    _history(conn, hospital, authority, now)
    for name, urgency, condition, minutes in PATIENTS:
        make.booking(make.user(name=name), hospital, urgency=urgency, patient_name=name,
                     medical_condition=condition,
                     created_at=to_iso(now - timedelta(minutes=minutes)))
    admin = make.user("admin", name="Platform Admin", email="admin@rapidcare.example")
    for name, city in (("Khulna Care Hospital", "Khulna"), ("Rajshahi Children's Clinic", "Rajshahi")):
        pending = make.hospital(status="pending", name=name, city=city,
                                specialties=("paediatrics",))
        make.authority(pending)
    conn.close()
    return authority, admin


def sign_in(page, server, user):
    page.goto(f"{server.url}/console/sign-in")
    page.get_by_label("Email").fill(user["email"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/console")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as directory, LiveServer(directory, workers=2) as server:
        authority, admin = arrange(server)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM)
            page = browser.new_page(viewport={"width": 1200, "height": 800})
            page.goto(f"{server.url}/console/sign-in")
            page.screenshot(path=out / "sign-in.png")
            sign_in(page, server, authority)
            first = page.locator("ol.queue > li").first
            first.get_by_role("button", name="Approve").click()
            page.wait_for_load_state()
            page.screenshot(path=out / "queue.png", full_page=True)
            for name, path in (("board", "/console/board"), ("occupancy", "/console/occupancy"),
                               ("bookings", "/console/bookings")):
                page.goto(server.url + path)
                page.screenshot(path=out / f"{name}.png", full_page=True)
            page.goto(f"{server.url}/console/bookings")
            page.locator("table a").first.click()
            page.screenshot(path=out / "booking.png", full_page=True)
            phone = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
            phone.context.add_cookies(page.context.cookies())
            phone.goto(f"{server.url}/console/queue")
            phone.screenshot(path=out / "queue-phone.png")
            admin_page = browser.new_context(viewport={"width": 1200, "height": 800}).new_page()
            sign_in(admin_page, server, admin)
            admin_page.screenshot(path=out / "admin-hospitals.png", full_page=True)
            admin_page.goto(f"{server.url}/console/admin/health")
            admin_page.screenshot(path=out / "admin-health.png", full_page=True)
            browser.close()
    print(json.dumps(sorted(p.name for p in out.glob("*.png"))))


if __name__ == "__main__":
    main()
