"""The staff console in a real browser against the real service (gunicorn)."""
import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from tests.factories import PASSWORD

pytestmark = pytest.mark.slow


def sign_in(page, server, user):
    page.goto(f"{server.url}/console/sign-in")
    page.get_by_label("Email").fill(user["email"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def count(page, selector):
    return int(page.locator(selector).inner_text())


def test_staff_approve_from_the_queue_and_decline_with_a_confirmation(live, page):
    make = live.make
    hospital = make.hospital(name="Dhaka Heart Centre", resources={"beds": 10},
                             prices={"beds": 150000})
    authority = make.authority(hospital)
    patient = make.user()
    # its window is under way: approving it takes a bed now (scheduled capacity, #15)
    urgent = make.booking(patient, hospital, urgency="critical", scheduled_in=timedelta(minutes=-30))
    routine = make.booking(make.user(), hospital, urgency="low")
    live.start()

    sign_in(page, live, authority)
    page.wait_for_url(re.compile(r"/console/queue$"))
    assert count(page, '[data-count="total-pending"]') == 2
    assert count(page, '#available-beds [data-count="available"]') == 10
    first = page.locator("ol.queue > li").first
    assert urgent["booking_reference"] in first.inner_text()  # most urgent first

    # The form posts and is redirected back to the same address, so wait_for_url would
    # return at once: expect() retries until the new page says what happened.
    page.get_by_role("button", name=f"Approve {urgent['booking_reference']}").click()
    expect(page.get_by_role("status").first).to_contain_text(f"Approved {urgent['booking_reference']}")
    assert count(page, '[data-count="total-pending"]') == 1
    assert count(page, '#available-beds [data-count="available"]') == 9

    page.on("dialog", lambda dialog: dialog.accept())  # console.js asks before a decline
    page.get_by_label(f"Reason for declining {routine['booking_reference']}").fill("no bed free")
    page.get_by_role("button", name=f"Decline {routine['booking_reference']}").click()
    expect(page.locator("main")).to_contain_text(f"Declined {routine['booking_reference']}")
    assert count(page, '[data-count="total-pending"]') == 0
    assert page.console_errors == []  # nothing refused by the content security policy


def test_staff_edit_a_bed_count(live, page):
    hospital = live.make.hospital(resources={"beds": 10})
    authority = live.make.authority(hospital)
    live.start()

    sign_in(page, live, authority)
    page.get_by_role("link", name="Board").click()
    page.get_by_label("Total").first.fill("14")
    page.get_by_label("Maintenance").first.fill("3")
    page.get_by_label("Reason (kept in the audit log)").first.fill("ward C reopened")
    page.get_by_role("button", name="Save Beds").click()
    expect(page.locator("main")).to_contain_text("beds: saved. Now 11 available of 14")
    assert count(page, '#counts-beds [data-count="available"]') == 11
    assert count(page, '#counts-beds [data-count="maintenance"]') == 3
    assert page.console_errors == []


def test_admin_approves_a_pending_hospital(live, page):
    admin = live.make.admin()
    pending = live.make.hospital(status="pending", name="Khulna Care")
    live.make.authority(pending)
    live.start()

    sign_in(page, live, admin)
    page.wait_for_url(re.compile(r"/console/admin/hospitals$"))
    # expect() retries until the page shows it: a bare is_visible() right after a click
    # can read the page before the next one has rendered (it failed CI once that way)
    heading = page.get_by_role("heading", name="Khulna Care")
    expect(heading).to_be_visible()
    page.get_by_role("button", name="Approve Khulna Care").click()
    expect(page.get_by_role("status").first).to_contain_text("Khulna Care is now approved.")
    expect(heading).to_have_count(0)  # no longer pending
    page.get_by_role("link", name="approved").click()
    page.wait_for_url(re.compile(r"/console/admin/hospitals\?status=approved$"))
    expect(heading).to_be_visible()


def test_a_patient_is_refused(live, page):
    patient = live.make.user()
    live.start()

    sign_in(page, live, patient)
    message = page.get_by_role("alert")
    assert "Patient accounts cannot sign in here" in message.inner_text()
    page.goto(f"{live.url}/console/queue")
    assert page.url.endswith("/console/sign-in")  # no session was started
