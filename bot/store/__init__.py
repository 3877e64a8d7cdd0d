"""Store backends: the accounts and orders a transactional flow talks to."""

from bot.store.base import (
    ORDER_NUMBER_PATTERN,
    STATUSES,
    Order,
    ResetOutcome,
    StoreBackend,
    StoreUnavailable,
)

__all__ = [
    "ORDER_NUMBER_PATTERN",
    "STATUSES",
    "Order",
    "ResetOutcome",
    "StoreBackend",
    "StoreUnavailable",
]
