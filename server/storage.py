"""Opening the store from the configuration (database and key provider).

Used by `mss serve` and by the admin verbs, which act on the database directly.
"""

from __future__ import annotations

from imap_store.store.crypto import FileKeyProvider
from imap_store.store.db import Database
from imap_store.store.keys import DataKeys

from .config import Config


def open_store(cfg: Config) -> tuple[Database, DataKeys]:
    db = Database(cfg.database.url, cfg.base_dir)
    keys = DataKeys(FileKeyProvider(cfg.resolve(cfg.keys.kek)))
    return db, keys


def app_password_key(keys: DataKeys) -> bytes:
    """The HMAC key for app-password digests, derived from the KEK."""
    return keys.provider.derive(b"app-password-v1")
