"""Persons, their grants on shared BALs, and app passwords.

Invariants:
- A person's login is unique and lower-cased; a PER BAL's owner is the person
  whose login is the BAL address (created with the BAL).
- Grants exist only on ORG, APP and CAB BALs: a PER BAL belongs to one person (R10).
- An app password is bound to (person, BAL); only its keyed hash is stored and
  the secret is returned once, at creation. Revoking a grant makes the
  person's app passwords on that BAL unusable (checked at login).

Ref: R10, R12; docs/architecture.md "Identities".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from .accounts import RPPS_RE, AccountError, bal_row
from .db import Database
from .models import AppPassword, Bal, BalGrant, Person
from .passwords import DEFAULT_HASHING, PasswordHashing, app_secret_hash, new_app_secret

GRANTABLE = ("ORG", "APP", "CAB")


@dataclass(frozen=True)
class PersonInfo:
    id: int
    login: str
    display_name: str | None
    rpps: str | None
    created_at: datetime
    bals: tuple[str, ...]


@dataclass(frozen=True)
class AppPasswordInfo:
    id: int
    bal: str
    person: str | None
    label: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


async def person_row(s: AsyncSession, login: str) -> Person:
    row = (await s.execute(select(Person).where(
        Person.login == login.strip().lower()))).scalar_one_or_none()
    if row is None:
        raise AccountError("person", f"no person {login.strip().lower()}")
    return row


async def person_bals(s: AsyncSession, person_id: int) -> tuple[str, ...]:
    owned = select(Bal.address).where(Bal.person_id == person_id)
    granted = select(Bal.address).join(BalGrant, BalGrant.bal_id == Bal.id).where(
        BalGrant.person_id == person_id)
    rows = (await s.execute(owned.union(granted))).scalars().all()
    return tuple(sorted(rows))


class Identities:
    """Persons, grants and app passwords."""

    def __init__(self, db: Database, app_key: bytes,
                 hashing: PasswordHashing = DEFAULT_HASHING) -> None:
        self.db = db
        self.app_key = app_key
        self.hashing = hashing

    async def add_person(self, login: str, password: str | None, *,
                         display_name: str | None = None, rpps: str | None = None) -> PersonInfo:
        login = login.strip().lower()
        if not login or len(login) > 320 or any(c.isspace() for c in login):
            raise AccountError("login", f"invalid login {login!r}")
        if rpps is not None and not RPPS_RE.match(rpps):
            raise AccountError("rpps", "an RPPS has exactly 11 digits")
        pw_hash = await self.hashing.hash(password) if password else None
        async with self.db.write() as s:
            if (await s.execute(select(Person.id).where(Person.login == login))).first():
                raise AccountError("login", f"person {login} already exists")
            row = Person(login=login, display_name=display_name, rpps=rpps,
                         password_hash=pw_hash, created_at=datetime.now(UTC))
            s.add(row)
            await s.flush()
            return PersonInfo(row.id, row.login, display_name, rpps, row.created_at, ())

    async def list_persons(self) -> list[PersonInfo]:
        async with self.db.read() as s:
            rows = (await s.execute(select(Person).order_by(Person.login))).scalars().all()
            return [PersonInfo(r.id, r.login, r.display_name, r.rpps, r.created_at,
                               await person_bals(s, r.id)) for r in rows]

    async def grant(self, bal: str, login: str) -> bool:
        async with self.db.write() as s:
            row, person = await bal_row(s, bal), await person_row(s, login)
            if row.bal_type not in GRANTABLE:
                raise AccountError("bal", f"a {row.bal_type} BAL belongs to one person; "
                                   f"grants are for {', '.join(GRANTABLE)} BALs")
            if await s.get(BalGrant, (row.id, person.id)) is not None:
                return False
            s.add(BalGrant(bal_id=row.id, person_id=person.id, granted_at=datetime.now(UTC)))
            return True

    async def revoke(self, bal: str, login: str) -> bool:
        async with self.db.write() as s:
            row, person = await bal_row(s, bal), await person_row(s, login)
            res = await s.execute(delete(BalGrant).where(
                BalGrant.bal_id == row.id, BalGrant.person_id == person.id))
            return bool(res.rowcount)  # type: ignore[attr-defined]

    async def add_app_password(self, bal: str, login: str | None,
                               label: str) -> tuple[AppPasswordInfo, str]:
        """Create one; returns its info and the secret, shown once."""
        secret = new_app_secret()
        now = datetime.now(UTC)
        async with self.db.write() as s:
            row = await bal_row(s, bal)
            person = await self._app_person(s, row, login)
            app = AppPassword(bal_id=row.id, person_id=person.id if person else None,
                              label=label[:100], secret_hash=app_secret_hash(self.app_key, secret),
                              created_at=now)
            s.add(app)
            await s.flush()
            return _app_info(app, row.address, person.login if person else None), secret

    async def _app_person(self, s: AsyncSession, bal: Bal, login: str | None) -> Person | None:
        if login is None:
            if bal.person_id is None:
                raise AccountError("person", f"{bal.address} is shared: name the --person")
            return await s.get(Person, bal.person_id)
        person = await person_row(s, login)
        if person.id != bal.person_id and await s.get(BalGrant, (bal.id, person.id)) is None:
            raise AccountError("person", f"{person.login} is not granted {bal.address}")
        return person

    async def list_app_passwords(self, bal: str) -> list[AppPasswordInfo]:
        async with self.db.read() as s:
            row = await bal_row(s, bal)
            apps = (await s.execute(select(AppPassword, Person.login).outerjoin(
                Person, Person.id == AppPassword.person_id).where(
                AppPassword.bal_id == row.id).order_by(AppPassword.id))).all()
            return [_app_info(a, row.address, login) for a, login in apps]

    async def revoke_app_password(self, bal: str, app_id: int) -> bool:
        async with self.db.write() as s:
            row = await bal_row(s, bal)
            app = await s.get(AppPassword, app_id)
            if app is None or app.bal_id != row.id:
                raise AccountError("id", f"no app password {app_id} on {row.address}")
            if app.revoked_at is not None:
                return False
            app.revoked_at = datetime.now(UTC)
            return True


def _app_info(app: AppPassword, bal: str, person: str | None) -> AppPasswordInfo:
    return AppPasswordInfo(app.id, bal, person, app.label, app.created_at, app.last_used_at,
                           app.revoked_at)
