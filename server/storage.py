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
from imap_store.store.passwords import DEFAULT_HASHING, Argon2Params, PasswordHashing
from imap_store.store.quota import QuotaDefaults

from .audit import DatabaseAuditSink
from .config import Config, ConfigError


def key_provider(cfg: Config) -> FileKeyProvider:
    """The KEK; a file that is missing, readable by group or others, or not exactly
    32 bytes is a `ConfigError` naming `keys.kek`."""
    try:
        return FileKeyProvider(cfg.resolve(cfg.keys.kek))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"keys.kek: {exc}") from exc


def open_store(cfg: Config) -> tuple[Database, DataKeys]:
    """The database and the data keys (`key_provider` says when the KEK is refused)."""
    return Database(cfg.database.url, cfg.base_dir), DataKeys(key_provider(cfg))


def quota_defaults(cfg: Config) -> QuotaDefaults:
    """`[quota]`: the limits of a BAL that has none of its own (R25)."""
    return QuotaDefaults(cfg.quota.default_bytes, cfg.quota.default_messages)


def password_hashing(cfg: Config) -> PasswordHashing:
    """argon2id under the `[auth] argon2_*` parameters, for every new password hash."""
    a = cfg.auth
    return PasswordHashing(Argon2Params(memory_kib=a.argon2_memory_kib,
                                        time_cost=a.argon2_time_cost,
                                        parallelism=a.argon2_parallelism))


def app_password_key(keys: DataKeys) -> bytes:
    """The HMAC key for app-password digests, derived from the KEK."""
    return keys.provider.derive(b"app-password-v1")


@dataclass(frozen=True)
class AdminStore:
    """The store as the admin verbs use it, open for one command."""

    db: Database
    keys: DataKeys
    hashing: PasswordHashing = DEFAULT_HASHING

    @property
    def accounts(self) -> Accounts:
        return Accounts(self.db, self.keys, LOCAL_ENTRIES, self.hashing)

    @property
    def identities(self) -> Identities:
        return Identities(self.db, app_password_key(self.keys), self.hashing)

    async def audit(self, event: str, bal: str, detail: dict[str, Any]) -> None:
        """Record an admin action (protocol "cli") in the audit trail (R24)."""
        await DatabaseAuditSink(self.db).record(AuditEvent(event, protocol="cli", bal=bal,
                                                           detail=detail))


@asynccontextmanager
async def admin_store(cfg: Config) -> AsyncIterator[AdminStore]:
    """Open the database for one admin verb and close it afterwards."""
    db, keys = open_store(cfg)
    try:
        yield AdminStore(db, keys, password_hashing(cfg))
    finally:
        await db.dispose()
