"""Wallet: the double-entry ledger, escrow holds, settlement and payouts; `api` is its face."""
