"""Tables of the wallet area: ledger accounts, transfers, payments, withdrawals."""

from storage.tables.base import metadata  # noqa: F401
