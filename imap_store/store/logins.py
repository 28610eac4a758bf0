"""Checking credentials: BAL passwords, person passwords with delegation, app passwords.

Login forms (docs/architecture.md "Identities"):
- user name = BAL address, secret = the BAL's password or an app password
  bound to it (a mail client or phone: "Thunderbird-style");
- SASL PLAIN authzid = BAL address, authcid = person login, secret = that
  person's password or one of their app passwords for that BAL.

Invariants:
- The outcome for an unknown account, a wrong secret, a suspended BAL or a
  missing grant is the same `None` principal to the caller, with the same
  argon2 work; only the audit reason differs.
- A person acts on an ORG/APP/CAB BAL only while granted; revoking the grant
  disables the person's app passwords there too.
- Every principal carries a `Standing` issued by the process's `BalWatch`
  (with the BAL's password epoch when the BAL's own password was used), so
  a suspension, deletion or password change made by any process ends the
  sessions it concerns.
- Password work goes through the process's `PasswordVerifier` (a bounded
  number at once; `LoginUnavailable` when no slot comes in time). A hash made
  under other argon2 parameters is replaced after a successful login, only if
  it is still the stored one.

Ref: R9, R10; RFC 4616 (PLAIN authzid/authcid).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .bal_watch import BalWatch
from .db import Database
from .identities import person_bals
from .interfaces import Principal, Standing
from .models import AppPassword, Bal, BalGrant, Person
from .passwords import PasswordVerifier, app_secret_hash


@dataclass(frozen=True)
class LoginOutcome:
    principal: Principal | None
    reason: str
    method: str


@dataclass(frozen=True)
class _Facts:
    bal: Bal | None
    person: Person | None
    app: AppPassword | None
    may_act: bool
    person_hash: str | None = None


class LoginChecker:
    """Resolves one login attempt to a principal (or a refusal reason)."""

    def __init__(self, db: Database, app_key: bytes, verifier: PasswordVerifier, *,
                 password_types: Collection[str],
                 app_password_types: Collection[str],
                 watch: BalWatch | None = None) -> None:
        self.db = db
        self.watch = watch
        self.app_key = app_key
        self.verifier = verifier
        self.password_types = frozenset(password_types)
        self.app_password_types = frozenset(app_password_types)

    async def check(self, login: str, secret: str, authzid: str = "") -> LoginOutcome:
        login, target = login.strip().lower(), (authzid or login).strip().lower()
        digest = app_secret_hash(self.app_key, secret)
        async with self.db.read() as s:
            facts = await self._facts(s, login, target, digest)
        if facts.app is not None:
            return await self._app_outcome(facts)
        return await self._password_outcome(facts, secret, delegated=login != target)

    async def _facts(self, s: AsyncSession, login: str, target: str, digest: str) -> _Facts:
        bal = (await s.execute(select(Bal).where(Bal.address == target))).scalar_one_or_none()
        person = (await s.execute(select(Person).where(
            Person.login == login))).scalar_one_or_none()
        app = (await s.execute(select(AppPassword).where(
            AppPassword.secret_hash == digest))).scalar_one_or_none()
        if app is not None and (bal is None or app.bal_id != bal.id or app.revoked_at
                                or (login != target and (person is None
                                                         or app.person_id != person.id))):
            app = None
        may_act = await self._may_act(s, bal, person if login != target else None, app)
        return _Facts(bal, person, app, may_act, await self._person_hash(s, person))

    @staticmethod
    async def _person_hash(s: AsyncSession, person: Person | None) -> str | None:
        """A person's password, else the password of the PER BAL they own."""
        if person is None or person.password_hash:
            return person.password_hash if person else None
        return (await s.execute(select(Bal.password_hash).where(
            Bal.person_id == person.id, Bal.bal_type == "PER").limit(1))).scalar()

    @staticmethod
    async def _may_act(s: AsyncSession, bal: Bal | None, person: Person | None,
                       app: AppPassword | None) -> bool:
        if bal is None:
            return False
        pid = person.id if person is not None else (app.person_id if app else None)
        if pid is None or pid == bal.person_id:
            return True
        return await s.get(BalGrant, (bal.id, pid)) is not None

    async def _app_outcome(self, facts: _Facts) -> LoginOutcome:
        assert facts.app is not None and facts.bal is not None
        refused = self._refusal(facts, self.app_password_types)
        if refused:
            return LoginOutcome(None, refused, "app-password")
        async with self.db.write() as s:
            app = await s.get(AppPassword, facts.app.id)
            if app is not None:
                app.last_used_at = datetime.now(UTC)
        return LoginOutcome(await self._principal(facts.bal, facts.app.person_id, None),
                            "ok", "app-password")

    async def _password_outcome(self, facts: _Facts, secret: str,
                                delegated: bool) -> LoginOutcome:
        holder = facts.person if delegated else facts.bal
        stored = facts.person_hash if delegated else (facts.bal.password_hash
                                                      if facts.bal else None)
        verified = await self.verifier.verify(stored, secret)
        if not verified.ok:
            reason = "unknown-account" if facts.bal is None or holder is None else "bad-secret"
            return LoginOutcome(None, reason, "password")
        refused = self._refusal(facts, self.password_types)
        if refused:
            return LoginOutcome(None, refused, "password")
        assert facts.bal is not None and stored is not None
        if verified.needs_rehash:
            await self._rehash(facts, delegated, stored, secret)
        pid = facts.person.id if delegated and facts.person else facts.bal.person_id
        # Only a login made with the BAL's own password falls with a change of it.
        epoch = None if delegated else facts.bal.password_epoch
        return LoginOutcome(await self._principal(facts.bal, pid, epoch), "ok", "password")

    async def _rehash(self, facts: _Facts, delegated: bool, old: str, secret: str) -> None:
        """Store `secret` under the configured argon2 parameters where `old` still is
        the stored hash (the BAL's, or the person's, or their PER BAL's)."""
        new = await self.verifier.rehash(secret)
        if new is None:
            return
        async with self.db.write() as s:
            if not delegated and facts.bal is not None:
                await s.execute(update(Bal).where(Bal.id == facts.bal.id,
                                                  Bal.password_hash == old)
                                .values(password_hash=new))
            elif facts.person is not None:
                await s.execute(update(Person).where(Person.id == facts.person.id,
                                                     Person.password_hash == old)
                                .values(password_hash=new))
                await s.execute(update(Bal).where(Bal.person_id == facts.person.id,
                                                  Bal.bal_type == "PER",
                                                  Bal.password_hash == old)
                                .values(password_hash=new))

    @staticmethod
    def _refusal(facts: _Facts, allowed_types: frozenset[str]) -> str:
        if facts.bal is None:
            return "unknown-account"
        if facts.bal.status != "active":
            return f"bal-{facts.bal.status}"
        if not facts.may_act:
            return "not-granted"
        if facts.bal.bal_type not in allowed_types:
            return "method-not-allowed-for-type"
        return ""

    async def _principal(self, bal: Bal, person_id: int | None,
                         password_epoch: int | None) -> Principal:
        async with self.db.read() as s:
            person = await s.get(Person, person_id) if person_id else None
            granted = await person_bals(s, person_id) if person_id else ()
        standing = (self.watch.issue(bal.id, password_epoch) if self.watch is not None
                    else Standing(bal.id, password_epoch))
        return Principal(bal.id, bal.address, bal.bal_type, person.login if person else None,
                         frozenset(granted) | {bal.address}, standing)
