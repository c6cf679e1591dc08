"""Wallets: balances, the append-only ledger, top-ups and admin adjustments."""
