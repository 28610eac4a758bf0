"""Opening the store from the configuration (database and key provider).

Used by `mss serve` and by the admin verbs, which act on the database directly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from directory.local_entries import LOCAL_ENTRIES
from imap_store.store.accounts import Accounts
from imap_store.store.crypto import FileKeyProvider
from imap_store.store.db import Database
from imap_store.store.identities import Identities
from imap_store.store.interfaces import AuditEvent
from imap_store.store.keys import DataKeys

from .audit import DatabaseAuditSink
from .config import Config


def open_store(cfg: Config) -> tuple[Database, DataKeys]:
    db = Database(cfg.database.url, cfg.base_dir)
    keys = DataKeys(FileKeyProvider(cfg.resolve(cfg.keys.kek)))
    return db, keys


def app_password_key(keys: DataKeys) -> bytes:
    """The HMAC key for app-password digests, derived from the KEK."""
    return keys.provider.derive(b"app-password-v1")


@dataclass(frozen=True)
class AdminStore:
    """The store as the admin verbs use it, open for one command."""

    db: Database
    keys: DataKeys

    @property
    def accounts(self) -> Accounts:
        return Accounts(self.db, self.keys, LOCAL_ENTRIES)

    @property
    def identities(self) -> Identities:
        return Identities(self.db, app_password_key(self.keys))

    async def audit(self, event: str, bal: str, detail: dict[str, Any]) -> None:
        """Record an admin action (protocol "cli") in the audit trail (R24)."""
        await DatabaseAuditSink(self.db).record(AuditEvent(event, protocol="cli", bal=bal,
                                                           detail=detail))


@asynccontextmanager
async def admin_store(cfg: Config) -> AsyncIterator[AdminStore]:
    """Open the database for one admin verb and close it afterwards."""
    db, keys = open_store(cfg)
    try:
        yield AdminStore(db, keys)
    finally:
        await db.dispose()
