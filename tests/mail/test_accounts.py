"""Email verification and password reset, end to end: HTTP, the outbox, the
scheduler's delivery job and a real SMTP server; then the token from the mail."""
import logging
import statistics
import threading
import time
from datetime import timedelta

import pytest
from freezegun import freeze_time

from app.auth.account_tokens import FORGOT_PASSWORD_ANSWER
from app.timeutil import utcnow
from tests.bookings.helpers import booking_body
from tests.factories import PASSWORD
from tests.mail.helpers import deliver, our_log_lines, outbox, text, to, token_in

NEW_PASSWORD = "a-brand-new-passphrase"
INVALID = {"code": 400, "status": "Bad Request",
           "message": "This link is invalid or has expired. Ask for a new one."}


def register(client, email="new.user@example.test", password="registration-pw-1"):
    r = client.post("/api/auth/register", json={"name": "New User", "email": email,
                                                "password": password})
    assert r.status_code == 201, r.json
    return r.json


def login(client, email, password):
    return client.post("/api/auth/login", json={"email": email, "password": password})


def mailed(smtp, mail_config, address):
    """Deliver the outbox and return the messages ``address`` has received so far."""
    status, message = deliver(mail_config)
    assert status == "succeeded", message
    return to(smtp.messages, address)


# --- verification ------------------------------------------------------------

def test_registration_mails_a_link_that_verifies_the_address_once(client, db, smtp, mail_config):
    user = register(client)
    assert user["emailVerified"] is False and user["emailNotifications"] is True
    [message] = mailed(smtp, mail_config, "new.user@example.test")
    assert message["Subject"] == "Confirm your email address"
    token = token_in(message)
    assert f"{mail_config['PUBLIC_BASE_URL']}/verify-email?token={token}" in text(message)
    # Stored hashed: the token is in no table (the sent mail's body was blanked).
    assert db.execute("SELECT count(*) AS n FROM account_tokens WHERE token_hash = ?",
                      (token,)).fetchone()["n"] == 0
    assert outbox(db)[0]["body"] == ""

    r = client.post("/api/auth/verify-email", json={"token": token})
    assert r.status_code == 204, r.json
    r = login(client, "new.user@example.test", "registration-pw-1")
    assert r.json["user"]["emailVerified"] is True

    again = client.post("/api/auth/verify-email", json={"token": token})
    assert (again.status_code, again.json) == (400, INVALID)


def test_unknown_used_and_expired_tokens_get_one_and_the_same_400(client, smtp, mail_config):
    register(client)
    [message] = mailed(smtp, mail_config, "new.user@example.test")
    token = token_in(message)
    unknown = client.post("/api/auth/verify-email", json={"token": "x" * 43})
    with freeze_time(utcnow() + timedelta(hours=mail_config["EMAIL_VERIFICATION_TTL_HOURS"], seconds=1)):
        expired = client.post("/api/auth/verify-email", json={"token": token})
    assert client.post("/api/auth/verify-email", json={"token": token}).status_code == 204
    used = client.post("/api/auth/verify-email", json={"token": token})
    for answer in (unknown, expired, used):
        assert (answer.status_code, answer.json) == (400, INVALID)
    # A reset token is no verification token (and the other way round).
    reset_with_it = client.post("/api/auth/reset-password",
                                json={"token": token, "newPassword": NEW_PASSWORD})
    assert (reset_with_it.status_code, reset_with_it.json) == (400, INVALID)


@pytest.mark.parametrize("path", ["/api/auth/verify-email", "/api/auth/reset-password"])
@pytest.mark.parametrize("body", [{}, {"token": ""}, {"token": None}, {"token": 12},
                                  {"token": "t" * 257}, {"token": "t", "extra": 1}])
def test_malformed_token_bodies_are_422(client, path, body):
    if path.endswith("reset-password") and isinstance(body, dict):
        body = {**body, "newPassword": NEW_PASSWORD}
    r = client.post(path, json=body)
    assert r.status_code == 422, r.json


def test_resend_mails_a_new_link_is_rate_limited_and_409_once_verified(app, client, world, smtp,
                                                                     mail_config):
    app.config["ACCOUNT_MAIL_RATE_LIMIT"] = "2/900"
    address = world.patient["email"]
    headers = world.headers["patient"]
    assert client.post("/api/auth/verify-email/resend").status_code == 401
    for _ in range(2):
        assert client.post("/api/auth/verify-email/resend", headers=headers).status_code == 202
    third = client.post("/api/auth/verify-email/resend", headers=headers)
    assert third.status_code == 429 and int(third.headers["Retry-After"]) > 0
    first, second = mailed(smtp, mail_config, address)
    # Either link works; using one retires the other.
    assert client.post("/api/auth/verify-email", json={"token": token_in(second)}).status_code == 204
    assert client.post("/api/auth/verify-email", json={"token": token_in(first)}).status_code == 400
    app.config["ACCOUNT_MAIL_RATE_LIMIT"] = "0"
    r = client.post("/api/auth/verify-email/resend", headers=headers)
    assert r.status_code == 409 and "already verified" in r.json["message"]


def test_required_verification_refuses_booking_and_blood_requests_with_a_reason(app, client, db,
                                                                              world):
    blood = {"patientName": "P", "bloodType": "A+", "unitsNeeded": 1, "urgency": "high",
             "contactPhone": "+8801711000000", "location": "Dhaka"}
    headers = world.headers["patient"]
    # Off (the default): an unverified user may book.
    assert client.post("/api/bookings", json=booking_body(world.hospital),
                       headers=headers).status_code == 201
    app.config["REQUIRE_VERIFIED_EMAIL"] = True
    for path, body in (("/api/bookings", booking_body(world.hospital, resourceType="icu")),
                       ("/api/blood/request", blood)):
        r = client.post(path, json=body, headers=headers)
        assert r.status_code == 403, r.json
        assert r.json["message"].startswith("Verify your email address")
    db.execute("UPDATE users SET email_verified = TRUE WHERE id = ?", (world.patient["id"],))
    assert client.post("/api/bookings", json=booking_body(world.hospital, resourceType="icu"),
                       headers=headers).status_code == 201
    assert client.post("/api/blood/request", json=blood, headers=headers).status_code == 201


# --- password reset ----------------------------------------------------------

def forgot(client, email, ip="127.0.0.1"):
    return client.post("/api/auth/forgot-password", json={"email": email},
                       environ_base={"REMOTE_ADDR": ip})


def test_forgot_password_answers_alike_for_known_and_unknown_addresses(client, world, smtp,
                                                                       mail_config):
    known, unknown = forgot(client, world.patient["email"]), forgot(client, "nobody@example.test")
    assert known.status_code == unknown.status_code == 202
    assert known.json == unknown.json == {"message": FORGOT_PASSWORD_ANSWER}
    assert known.headers.get("Content-Length") == unknown.headers.get("Content-Length")
    assert len(mailed(smtp, mail_config, world.patient["email"])) == 1
    assert to(smtp.messages, "nobody@example.test") == []


def test_forgot_password_takes_about_as_long_for_known_and_unknown_addresses(client, world):
    timings = {"known": [], "unknown": []}
    for n in range(15):  # interleaved, so load on the machine hits both alike
        for kind, email in (("known", world.patient["email"]), ("unknown", f"x{n}@example.test")):
            started = time.perf_counter()
            assert forgot(client, email).status_code == 202
            timings[kind].append(time.perf_counter() - started)
    known, unknown = statistics.median(timings["known"]), statistics.median(timings["unknown"])
    # Neither path hashes a password; the known one adds two small inserts.
    assert abs(known - unknown) < 0.015, (known, unknown)


def test_forgot_password_is_rate_limited_per_address_and_per_ip(app, client, world):
    app.config["ACCOUNT_MAIL_RATE_LIMIT"] = "2/900"
    for _ in range(2):
        assert forgot(client, "someone@example.test", ip="10.0.0.1").status_code == 202
    # The same address from another IP: the address is over its limit, account or not.
    r = forgot(client, "someone@example.test", ip="10.0.0.2")
    assert r.status_code == 429 and "Retry-After" in r.headers
    # One IP, many addresses: 4x the limit, then 429.
    answers = [forgot(client, f"user{n}@example.test", ip="10.0.0.9").status_code for n in range(9)]
    assert answers == [202] * 8 + [429]


def test_reset_password_sets_it_ends_every_login_mails_a_notice_and_works_once(client, db, world, smtp,
                                                                            mail_config):
    address, headers = world.patient["email"], world.headers["patient"]
    assert client.get("/api/auth/profile", headers=headers).status_code == 200
    cookie_login = login(client, address, PASSWORD)
    assert cookie_login.status_code == 200
    forgot(client, address)
    forgot(client, address)
    first, second = mailed(smtp, mail_config, address)
    assert first["Subject"] == "Reset your RapidCare password"

    r = client.post("/api/auth/reset-password", json={"token": token_in(first),
                                                      "newPassword": NEW_PASSWORD})
    assert r.status_code == 204, r.json
    # Every login ended: the bearer token and the cookie session.
    assert client.get("/api/auth/profile", headers=headers).status_code == 401
    assert client.get("/api/auth/profile").status_code == 401
    assert login(client, address, PASSWORD).status_code == 401
    fresh = login(client, address, NEW_PASSWORD)
    assert fresh.status_code == 200 and fresh.json["user"]["emailVerified"] is True
    # Used, and the other reset link retired with it.
    for token in (token_in(first), token_in(second)):
        again = client.post("/api/auth/reset-password", json={"token": token,
                                                              "newPassword": "yet-another-pw-9"})
        assert (again.status_code, again.json) == (400, INVALID)
    notice = mailed(smtp, mail_config, address)[-1]
    assert notice["Subject"] == "Your RapidCare password was changed"
    assert "with a password reset link" in text(notice) and "(Asia/Dhaka)" in text(notice)


def test_an_expired_reset_token_is_the_same_400(client, world, smtp, mail_config):
    forgot(client, world.patient["email"])
    [message] = mailed(smtp, mail_config, world.patient["email"])
    with freeze_time(utcnow() + timedelta(minutes=mail_config["PASSWORD_RESET_TTL_MINUTES"], seconds=1)):
        r = client.post("/api/auth/reset-password", json={"token": token_in(message),
                                                          "newPassword": NEW_PASSWORD})
    assert (r.status_code, r.json) == (400, INVALID)


def test_a_reset_token_sent_twice_at_once_works_once(app, client, db, world, smtp, mail_config):
    for round_number in range(4):
        forgot(client, world.patient["email"])
        token = token_in(mailed(smtp, mail_config, world.patient["email"])[-1])
        barrier, answers = threading.Barrier(2), []

        def reset(password):
            own_client = app.test_client()
            barrier.wait()
            answers.append(own_client.post("/api/auth/reset-password",
                                           json={"token": token, "newPassword": password}).status_code)

        threads = [threading.Thread(target=reset, args=(f"parallel-pw-{round_number}-{n}",))
                   for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(answers) == [204, 400], answers
        used = db.execute("SELECT count(*) AS n FROM account_tokens WHERE purpose = 'reset_password' "
                          "AND used_at IS NOT NULL").fetchone()["n"]
        assert used == round_number + 1


def test_password_change_mails_a_notice_even_with_notifications_off(client, db, world, smtp,
                                                                   mail_config):
    headers = world.headers["patient"]
    r = client.put("/api/auth/profile", json={"emailNotifications": False}, headers=headers)
    assert r.status_code == 200 and r.json["emailNotifications"] is False
    r = client.put("/api/auth/change-password", headers=headers,
                   json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD})
    assert r.status_code == 204, r.json
    [notice] = mailed(smtp, mail_config, world.patient["email"])
    assert "from your account settings" in text(notice)
    assert "Every other login" in text(notice)


@pytest.mark.parametrize("value", ["no", 0, 1, None, "false"])
def test_email_notifications_takes_only_true_or_false(client, world, value):
    r = client.put("/api/auth/profile", json={"emailNotifications": value},
                   headers=world.headers["patient"])
    assert r.status_code == 422, r.json


# --- nothing secret in any log line ----------------------------------------------

def test_no_token_address_or_password_appears_in_a_log_line(app, client, world, smtp, mail_config,
                                                           caplog, capsys):
    app.config["LOG_LEVEL"] = "DEBUG"
    logging.getLogger("rapidcare").setLevel(logging.DEBUG)
    with caplog.at_level(logging.DEBUG):
        register(client, email="private.person@example.test", password="registration-pw-1")
        [verification] = mailed(smtp, mail_config, "private.person@example.test")
        client.post("/api/auth/verify-email", json={"token": token_in(verification)})
        client.post("/api/auth/verify-email", json={"token": token_in(verification)})
        forgot(client, "private.person@example.test")
        forgot(client, "not.an.account@example.test")
        reset_mail = mailed(smtp, mail_config, "private.person@example.test")[-1]
        client.post("/api/auth/reset-password", json={"token": token_in(reset_mail),
                                                      "newPassword": NEW_PASSWORD})
        client.post("/api/auth/reset-password", json={"token": token_in(reset_mail),
                                                      "newPassword": NEW_PASSWORD})
        smtp.recorder.refuse_rcpt = "550 <private.person@example.test> unknown"
        login(client, "private.person@example.test", NEW_PASSWORD)
        client.put("/api/auth/change-password", headers=world.headers["patient"],
                   json={"currentPassword": PASSWORD, "newPassword": "changed-pw-2345"})
        deliver(mail_config)
    logged = our_log_lines(caplog) + capsys.readouterr().err
    assert "reset-password" in logged or "verify-email" in logged  # the request lines are there
    secrets = [token_in(verification), token_in(reset_mail), "private.person@example.test",
               "not.an.account@example.test", world.patient["email"], "registration-pw-1",
               NEW_PASSWORD, "changed-pw-2345", PASSWORD]
    for secret in secrets:
        assert secret not in logged, secret
