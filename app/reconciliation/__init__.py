"""Reconciliation: prove the ledger, the fee split and the gateway agree; record what does not."""
