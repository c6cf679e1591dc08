"""Outgoing mail: the outbox (outbox.py, queries.py), its texts (templates.py), the
mails the domains queue (notices.py) and their delivery by the scheduler
(delivery.py, jobs.py)."""
