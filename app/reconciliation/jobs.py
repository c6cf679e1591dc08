"""Scheduled reconciliation job. Signature: ``def name(conn, *, now, config) -> str``; it
opens its own transactions and returns a one-line summary."""
from datetime import timedelta

from app.payments.sslcommerz import SslcommerzClient
from app.reconciliation import service as reconciliation
from app.timeutil import local_date


def reconcile_daily(conn, *, now, config):
    """Reconcile the day that just ended (platform time zone); see app.reconciliation.service."""
    run_date = local_date(now - timedelta(days=1), config["TIMEZONE"])
    run = reconciliation.run(conn, run_date=run_date, triggered_by=None, now=now, config=config,
                             gateway=SslcommerzClient.from_config(config))
    return reconciliation.summary_line(run)
