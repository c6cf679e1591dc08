"""SIGKILL of the scheduler in the middle of sending: every message is delivered once,
or at worst twice under the same Message-ID; none is lost.

The scheduler runs as operators run it (``python -m app.ops.scheduler --run
mail-delivery``, its own process, its own connection) against a real SMTP server
in this process. The first kill lands in the worst place on purpose: the server
has stored the message and the scheduler is killed before it reads the "250"
reply, so the row was never marked sent. Later kills come at random moments of a
run. A last run, undisturbed, finishes the outbox.
"""
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest

from app.db import transaction
from app.mail.outbox import enqueue
from app.mail.templates import Mail
from app.timeutil import utcnow
from tests.mail.helpers import outbox
from tests.mail.smtp_server import SmtpServer
from tests.ops import helpers as ops_helpers

pytestmark = pytest.mark.slow

MESSAGES = 40


def scheduler_env(app, smtp):
    extra = {"RAPIDCARE_SMTP_HOST": smtp.hostname, "RAPIDCARE_SMTP_PORT": str(smtp.port),
             "RAPIDCARE_SMTP_SECURITY": "none"}
    if app.config.get("DATABASE_URL"):
        extra["RAPIDCARE_DATABASE_URL"] = app.config["DATABASE_URL"]
    return ops_helpers.script_env(app.config["DATABASE"], app.config["BACKUP_DIR"], extra)


def start_delivery(env):
    return subprocess.Popen(
        [sys.executable, "-m", "app.ops.scheduler", "--run", "mail-delivery"],
        cwd=ops_helpers.ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def test_a_killed_scheduler_delivers_each_message_once_or_twice_with_the_same_message_id(app, db, make):
    users = [make.user(email=f"crash{n}@example.test") for n in range(MESSAGES)]
    with transaction(db):
        for n, user in enumerate(users):
            enqueue(db, user=user, now=utcnow(), essential=True,
                    mail=Mail("test", f"Message {n}", f"Body of message {n}\n"))

    with SmtpServer() as smtp:
        env = scheduler_env(app, smtp)
        state = {"process": None, "kill_on": None, "stored_this_run": 0, "timer": None}
        kills = 0

        def after_store(message):
            state["stored_this_run"] += 1
            time.sleep(0.02)  # a server that takes a moment per message: a run lasts a while
            if state["kill_on"] == "after_store" and state["stored_this_run"] == 5:
                # Stored, not yet acknowledged: the worst moment to die.
                os.kill(state["process"].pid, signal.SIGKILL)
            elif state["kill_on"] == "random" and state["timer"] is None:
                delay = random.uniform(0.0, 0.3)
                state["timer"] = threading.Timer(delay, _kill, (state["process"],))
                state["timer"].start()

        smtp.recorder.after_store = after_store

        for kill_on in ["after_store", "random", "random", "random", None]:
            state.update(kill_on=kill_on, stored_this_run=0, timer=None)
            state["process"] = process = start_delivery(env)
            _, stderr = process.communicate(timeout=120)
            if state["timer"] is not None:
                state["timer"].join()
            # A message the killed process had already sent may still be in the server's
            # hands: let it land before the next run is armed.
            time.sleep(0.5)
            if process.returncode == -signal.SIGKILL:
                kills += 1
            else:
                assert process.returncode == 0, stderr
            if kill_on == "after_store":
                assert process.returncode == -signal.SIGKILL
                rows = outbox(db)
                assert [r["status"] for r in rows[:5]] == ["sent"] * 4 + ["sending"]
            if kill_on is None:
                break
        received = smtp.messages

    rows = outbox(db)
    assert kills >= 1
    assert [r["status"] for r in rows] == ["sent"] * MESSAGES, Counter(r["status"] for r in rows)
    copies = Counter(m["Message-ID"] for m in received)
    by_id = {r["message_id"]: r for r in rows}
    # Every message arrived, under the Message-ID its row holds, to its own recipient.
    assert set(copies) == set(by_id)
    for message in received:
        row = by_id[message["Message-ID"]]
        assert message["To"] == row["to_address"] and message["Subject"] == row["subject"]
    # Once, or twice with the same Message-ID; a second copy only for a message whose
    # run was killed mid-send, at most one per kill.
    assert set(copies.values()) <= {1, 2}, copies
    duplicated = [mid for mid, n in copies.items() if n == 2]
    assert len(duplicated) <= kills
    assert all(by_id[mid]["attempts"] >= 2 for mid in duplicated)
    # The first kill came after the server stored message 5 and before the reply.
    assert copies[rows[4]["message_id"]] == 2
    # Every killed run was marked failed ("interrupted") when the next one started.
    runs = db.execute("SELECT status, message FROM job_runs WHERE job_name = 'mail-delivery' "
                      "ORDER BY id").fetchall()
    assert [r["status"] for r in runs[:-1]] == ["failed"] * kills
    assert all(r["message"].startswith("interrupted") for r in runs[:-1])
    assert runs[-1]["status"] == "succeeded"


def _kill(process):
    try:
        os.kill(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # the run had already finished
