"""Tamper-evident audit: hash chains over the audit tables (issue #18 item 5)."""
