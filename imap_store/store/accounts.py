"""BAL accounts: creation with their keys and folders, lookup, passwords, deletion.

Invariants:
- Address (lower-cased) and type never change after creation (R12).
- PER needs an 11-digit RPPS; ORG and APP need a structure identifier (R12).
- Passwords are stored as argon2id hashes, verified in a worker thread, never
  on the event loop; an unknown account costs the same hash work as a known one.
- `delete_bal` removes the BAL, its contents and its data keys (crypto-shred).

Ref: MSS-RULES R10, R12; ARCHITECTURE "Passwords", "Identities".
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select, update

from .db import Database
from .interfaces import Principal
from .keys import DataKeys
from .models import Bal, BalKey, Folder, MailboxEntry, MessageContent

BAL_TYPES = ("PER", "ORG", "APP", "CAB")
DEFAULT_FOLDERS = (("INBOX", None), ("Sent", "\\Sent"), ("Drafts", "\\Drafts"),
                   ("Trash", "\\Trash"), ("Junk", "\\Junk"))
ADDRESS_RE = re.compile(
    r"^[a-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")
RPPS_RE = re.compile(r"^[0-9]{11}$")

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("mss-server: not a real password")


class AccountError(ValueError):
    """A refused account operation; `field` names what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class BalInfo:
    """What admin verbs and the gateway may know of a BAL (no secrets)."""

    id: int
    address: str
    bal_type: str
    rpps: str | None
    structure_id: str | None
    status: str
    liste_rouge: bool
    created_at: datetime
    last_login_at: datetime | None


def _info(row: Bal) -> BalInfo:
    return BalInfo(row.id, row.address, row.bal_type, row.rpps, row.structure_id, row.status,
                   row.liste_rouge, row.created_at, row.last_login_at)


def validate_new_bal(address: str, bal_type: str, rpps: str | None,
                     structure_id: str | None) -> None:
    """Raise AccountError naming the field when the R12 attributes are missing or wrong."""
    if not ADDRESS_RE.match(address):
        raise AccountError("address", f"invalid BAL address {address!r}")
    if bal_type not in BAL_TYPES:
        raise AccountError("type", f"BAL type must be one of {', '.join(BAL_TYPES)}")
    if bal_type == "PER" and not (rpps and RPPS_RE.match(rpps)):
        raise AccountError("rpps", "a PER BAL needs --rpps with exactly 11 digits")
    if bal_type in ("ORG", "APP") and not (structure_id and structure_id.strip()):
        raise AccountError("structure-id", f"an {bal_type} BAL needs --structure-id")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


class Accounts:
    """BAL lifecycle operations on the store."""

    def __init__(self, db: Database, keys: DataKeys) -> None:
        self.db = db
        self.keys = keys

    async def create_bal(self, address: str, bal_type: str, *, rpps: str | None = None,
                         structure_id: str | None = None, password: str | None = None) -> BalInfo:
        address = address.strip().lower()
        validate_new_bal(address, bal_type, rpps, structure_id)
        pw_hash = await hash_password(password) if password else None
        async with self.db.write() as s:
            if (await s.execute(select(Bal.id).where(Bal.address == address))).first():
                raise AccountError("address", f"BAL {address} already exists")
            row = Bal(address=address, bal_type=bal_type, rpps=rpps, structure_id=structure_id,
                      password_hash=pw_hash, status="active", liste_rouge=False,
                      created_at=datetime.now(UTC))
            s.add(row)
            await s.flush()
            await self.keys.create(s, row.id)
            validity = int(time.time())
            for name, special in DEFAULT_FOLDERS:
                s.add(Folder(bal_id=row.id, name=name, special_use=special, subscribed=True,
                             uidvalidity=validity, uidnext=1, highestmodseq=1))
            return _info(row)

    async def get(self, address: str) -> BalInfo | None:
        async with self.db.read() as s:
            row = (await s.execute(
                select(Bal).where(Bal.address == address.strip().lower()))).scalar_one_or_none()
            return _info(row) if row else None

    async def list(self) -> list[BalInfo]:
        async with self.db.read() as s:
            rows = (await s.execute(select(Bal).order_by(Bal.address))).scalars().all()
            return [_info(r) for r in rows]

    async def set_password(self, address: str, password: str) -> None:
        pw_hash = await hash_password(password)
        async with self.db.write() as s:
            res = await s.execute(update(Bal).where(Bal.address == address.strip().lower())
                                  .values(password_hash=pw_hash))
            if res.rowcount == 0:  # type: ignore[attr-defined]
                raise AccountError("address", f"no BAL {address}")

    async def verify_password(self, login: str, password: str) -> Principal | None:
        """Check a login; the same hash work whether or not the account exists."""
        async with self.db.read() as s:
            row = (await s.execute(
                select(Bal).where(Bal.address == login.strip().lower()))).scalar_one_or_none()
        stored = row.password_hash if row is not None else None
        if not await asyncio.to_thread(_verify, stored, password):
            return None
        if row is None or row.status != "active":
            return None
        return Principal(row.id, row.address, row.bal_type, None)

    async def touch_login(self, bal_id: int, when: datetime) -> None:
        async with self.db.write() as s:
            await s.execute(update(Bal).where(Bal.id == bal_id).values(last_login_at=when))

    async def delete_bal(self, address: str) -> BalInfo:
        """Remove the BAL, its folders, contents and data keys, then fold the WAL."""
        async with self.db.write() as s:
            row = (await s.execute(
                select(Bal).where(Bal.address == address.strip().lower()))).scalar_one_or_none()
            if row is None:
                raise AccountError("address", f"no BAL {address}")
            info = _info(row)
            folder_ids = select(Folder.id).where(Folder.bal_id == row.id)
            await s.execute(delete(MailboxEntry).where(MailboxEntry.folder_id.in_(folder_ids)))
            await s.execute(delete(MessageContent).where(MessageContent.bal_id == row.id))
            await s.execute(delete(Folder).where(Folder.bal_id == row.id))
            await s.execute(delete(BalKey).where(BalKey.bal_id == row.id))
            await s.delete(row)
        self.keys.forget(info.id)
        await self.db.checkpoint()
        return info
