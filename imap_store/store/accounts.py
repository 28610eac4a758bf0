"""BAL accounts: creation with their keys and folders, metadata, status, deletion.

Invariants:
- Address (lower-cased) and type never change after creation (R12); only the
  description, service, responsible person and liste rouge are editable.
- A PER BAL belongs to one person (created with it, login = the BAL address).
  The type and its R12 attributes (RPPS, structure identifier) are checked
  by the caller before `create_bal` (the policy's `new_bal_problem`); the
  store checks the address form and stores the type it is given.
- A suspended BAL refuses logins and its incoming mail gets 550 5.2.1 (R28).
- Every password change moves the BAL's `password_epoch` (a rehash of the same
  password does not), which ends the sessions logged in with the old one.
- `delete_bal` removes the BAL, its contents and its data keys (crypto-shred).

Publication (R13): a BAL is published at creation unless on liste rouge,
unpublished when suspended, deleted or put on liste rouge, republished when
resumed or taken off liste rouge; each change writes an outbox event.

Ref: R10, R12, R13, R28; docs/architecture.md "Identities".
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .db import Database
from .keys import DataKeys
from .lifecycle import reactivate_tx, reserved_until
from .models import Bal, BalKey, Folder, MailboxEntry, MessageContent, Person
from .passwords import DEFAULT_HASHING, PasswordHashing
from .publication import DirectoryIndex, republish_state, set_published

EDITABLE = ("description", "service", "responsible", "liste_rouge")
DEFAULT_FOLDERS = (("INBOX", None), ("Sent", "\\Sent"), ("Drafts", "\\Drafts"),
                   ("Trash", "\\Trash"), ("Junk", "\\Junk"))
ADDRESS_RE = re.compile(
    r"^[a-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")
RPPS_RE = re.compile(r"^[0-9]{11}$")


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
    published: bool
    description: str | None
    service: str | None
    responsible: str | None
    created_at: datetime
    last_login_at: datetime | None


def bal_info(row: Bal) -> BalInfo:
    return BalInfo(row.id, row.address, row.bal_type, row.rpps, row.structure_id, row.status,
                   row.liste_rouge, row.published, row.description, row.service,
                   row.responsible, row.created_at, row.last_login_at)


def validate_address(address: str) -> None:
    """Raise AccountError("address") unless `address` (lower-cased) is a BAL address."""
    if not ADDRESS_RE.match(address):
        raise AccountError("address", f"invalid BAL address {address!r}")


async def bal_row(s: AsyncSession, address: str) -> Bal:
    row = (await s.execute(select(Bal).where(
        Bal.address == address.strip().lower()))).scalar_one_or_none()
    if row is None:
        raise AccountError("address", f"no BAL {address.strip().lower()}")
    return row


class Accounts:
    """BAL lifecycle operations on the store."""

    def __init__(self, db: Database, keys: DataKeys, index: DirectoryIndex,
                 hashing: PasswordHashing = DEFAULT_HASHING) -> None:
        self.db = db
        self.keys = keys
        self.index = index
        self.hashing = hashing

    async def create_bal(self, address: str, bal_type: str, *, rpps: str | None = None,
                         structure_id: str | None = None, password: str | None = None,
                         liste_rouge: bool = False) -> BalInfo:
        address = address.strip().lower()
        validate_address(address)
        pw_hash = await self.hashing.hash(password) if password else None
        now = datetime.now(UTC)
        async with self.db.write() as s:
            if (await s.execute(select(Bal.id).where(Bal.address == address))).first():
                raise AccountError("address", f"BAL {address} already exists")
            until = await reserved_until(s, address, now)
            if until is not None:  # R28: not handed to someone else at once
                raise AccountError("address", f"{address} belonged to a BAL deleted for "
                                   f"inactivity and is reserved until {until.date()}")
            row = Bal(address=address, bal_type=bal_type, rpps=rpps, structure_id=structure_id,
                      password_hash=pw_hash, status="active", liste_rouge=liste_rouge,
                      published=False, created_at=now)
            if bal_type == "PER":
                row.person_id = await self._owner(s, address, rpps, now)
            s.add(row)
            await s.flush()
            await self.keys.create(s, row.id)
            self._folders(s, row.id)
            await set_published(s, row.id, not liste_rouge, "created", now, self.index)
            return bal_info(row)

    @staticmethod
    async def _owner(s: AsyncSession, login: str, rpps: str | None, now: datetime) -> int:
        person = (await s.execute(select(Person).where(
            Person.login == login))).scalar_one_or_none()
        if person is None:
            person = Person(login=login, rpps=rpps, created_at=now)
            s.add(person)
            await s.flush()
        return person.id

    @staticmethod
    def _folders(s: AsyncSession, bal_id: int) -> None:
        validity = int(time.time())
        for name, special in DEFAULT_FOLDERS:
            s.add(Folder(bal_id=bal_id, name=name, special_use=special, subscribed=True,
                         uidvalidity=validity, uidnext=1, highestmodseq=1))

    async def get(self, address: str) -> BalInfo | None:
        async with self.db.read() as s:
            row = (await s.execute(
                select(Bal).where(Bal.address == address.strip().lower()))).scalar_one_or_none()
            return bal_info(row) if row else None

    async def list(self) -> list[BalInfo]:
        async with self.db.read() as s:
            rows = (await s.execute(select(Bal).order_by(Bal.address))).scalars().all()
            return [bal_info(r) for r in rows]

    async def set_password(self, address: str, password: str) -> None:
        pw_hash = await self.hashing.hash(password)
        async with self.db.write() as s:
            row = await bal_row(s, address)
            row.password_hash = pw_hash
            # The sessions logged in with the old password end (`bal_watch`).
            row.password_epoch = (row.password_epoch or 0) + 1

    async def set_metadata(self, address: str, changes: dict[str, object]) -> BalInfo:
        """Edit the R12 metadata; anything else (address, type) is refused."""
        for key in changes:
            if key not in EDITABLE:
                raise AccountError(key, f"{key} cannot be changed after creation (R12)")
        async with self.db.write() as s:
            row = await bal_row(s, address)
            lifted = changes.get("liste_rouge") is False and row.liste_rouge
            for key, value in changes.items():
                setattr(row, key, value)
            await s.flush()
            now = datetime.now(UTC)
            if lifted and row.status == "active":
                await set_published(s, row.id, True, "liste rouge lifted", now, self.index)
            else:
                await republish_state(s, row.id, "metadata changed", now, self.index)
            return bal_info(await bal_row(s, address))

    async def set_status(self, address: str, status: str) -> tuple[BalInfo, bool]:
        """Suspend or resume; returns the BAL and whether the status changed."""
        async with self.db.write() as s:
            row = await bal_row(s, address)
            changed = row.status != status
            row.status = status
            await s.flush()
            now = datetime.now(UTC)
            if changed and status == "active":
                await set_published(s, row.id, True, "resumed", now, self.index)
            elif changed:
                await republish_state(s, row.id, status, now, self.index)
            return bal_info(await bal_row(s, address)), changed

    async def touch_login(self, bal_id: int, when: datetime) -> bool:
        """Record a successful login (R28); a BAL the inactivity lifecycle had moved
        (unpublished, or told of its deletion) is reset and published again in the same
        transaction. Returns whether it was."""
        async with self.db.write() as s:
            moved = (await s.execute(update(Bal).where(Bal.id == bal_id).values(
                last_login_at=when).returning(Bal.lifecycle_state, Bal.notice_days))).first()
            if moved is None or (moved[0] == "active" and moved[1] is None):
                return False
            return await reactivate_tx(s, bal_id, "login", when, self.index)

    async def delete_bal(self, address: str) -> BalInfo:
        """Remove the BAL, its folders, contents and data keys, then fold the WAL."""
        async with self.db.write() as s:
            row = await bal_row(s, address)
            await set_published(s, row.id, False, "deleted", datetime.now(UTC), self.index)
            info = bal_info(row)
            folder_ids = select(Folder.id).where(Folder.bal_id == row.id)
            await s.execute(delete(MailboxEntry).where(MailboxEntry.folder_id.in_(folder_ids)))
            await s.execute(delete(MessageContent).where(MessageContent.bal_id == row.id))
            await s.execute(delete(Folder).where(Folder.bal_id == row.id))
            await s.execute(delete(BalKey).where(BalKey.bal_id == row.id))
            await s.delete(row)
        self.keys.forget(info.id)
        await self.db.checkpoint()
        return info
