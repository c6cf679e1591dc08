"""The audit chains' scheduled job. Signature: ``def name(conn, *, now, config) -> str``."""
from app.audit import chain


def seal_audit_chains(conn, *, now, config):
    """Seal the audit rows written since the last run (app.audit.chain)."""
    added = chain.seal_now(conn, now=now)
    return "sealed " + ", ".join(f"{table} {count}" for table, count in added.items())
