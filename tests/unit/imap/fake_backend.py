"""An in-memory backend for engine tests (mirrors imap_store.imap.backend)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from imap_store.store.folder_index import FolderIndex
from imap_store.store.folder_ops import FolderError, FolderStatus, canonical_name
from imap_store.store.interfaces import AuditEvent, AuditFor, Principal
from imap_store.store.mailbox import Folder, MessageRow
from imap_store.store.message_ops import AppendResult, CopyResult, MessagesGone, NewMessage
from imap_store.store.quota import QuotaState
from message.meta import MessageMeta, compute_meta


class ChangeNotifier:
    def __init__(self) -> None:
        self._versions: dict[int, int] = {}
        self._cond: asyncio.Condition | None = None
        self.watching: dict[int, int] = {}

    def version(self, bal_id: int) -> int:
        return self._versions.get(bal_id, 0)

    def _condition(self) -> asyncio.Condition:
        if self._cond is None:
            self._cond = asyncio.Condition()
        return self._cond

    async def bump(self, bal_id: int) -> None:
        self._versions[bal_id] = self.version(bal_id) + 1
        cond = self._condition()
        async with cond:
            cond.notify_all()

    async def wait(self, bal_id: int, since: int, timeout: float) -> int:
        cond = self._condition()
        try:
            async with asyncio.timeout(timeout):
                async with cond:
                    await cond.wait_for(lambda: self.version(bal_id) != since)
        except TimeoutError:
            pass
        return self.version(bal_id)

    def watch(self, bal_id: int, folder_id: int, marker: tuple[int, int]) -> None:
        self.watching[folder_id] = self.watching.get(folder_id, 0) + 1

    def unwatch(self, folder_id: int) -> None:
        self.watching[folder_id] -= 1


@dataclass
class _Msg:
    raw: bytes
    row: MessageRow


@dataclass
class _FolderState:
    folder: Folder
    messages: dict[int, _Msg] = field(default_factory=dict)
    recent_uid: int = 0


class MailboxStore:
    def __init__(self) -> None:
        self.notifier = ChangeNotifier()
        self._folders: dict[tuple[int, str], _FolderState] = {}
        self._next_id = 1
        self._modseq = 1
        self.fetch_count = 0
        self.meta_count = 0
        self.audit_sink: AuditSink | None = None

    def add_folder(self, bal_id: int, name: str, special_use: str | None = None,
                   subscribed: bool = True) -> Folder:
        folder = Folder(self._next_id, bal_id, name, 1000 + self._next_id, 1, special_use,
                        subscribed, 1)
        self._next_id += 1
        self._folders[(bal_id, name.upper() if name.upper() == "INBOX" else name)] = (
            _FolderState(folder))
        return folder

    def _state(self, bal_id: int, folder_id: int) -> _FolderState:
        for (bal, _), state in self._folders.items():
            if bal == bal_id and state.folder.id == folder_id:
                return state
        raise KeyError(folder_id)

    async def deliver(self, bal_id: int, name: str, raw: bytes,
                      flags: frozenset[str] = frozenset(),
                      internaldate: dt.datetime | None = None) -> int:
        state = self._folders[(bal_id, name)]
        uid = state.folder.uidnext
        self._modseq += 1
        when = internaldate or dt.datetime(2024, 3, 5, 10, 0, tzinfo=dt.UTC)
        state.messages[uid] = _Msg(raw, MessageRow(uid, flags, len(raw), when, self._modseq))
        state.folder = replace(state.folder, uidnext=uid + 1)
        await self.notifier.bump(bal_id)
        return uid

    async def list_folders(self, bal_id: int) -> list[Folder]:
        return [s.folder for (bal, _), s in self._folders.items() if bal == bal_id]

    async def get_folder(self, bal_id: int, name: str) -> Folder | None:
        key = (bal_id, "INBOX" if name.upper() == "INBOX" else name)
        state = self._folders.get(key)
        return state.folder if state else None

    async def snapshot(self, bal_id: int, folder_id: int) -> tuple[Folder, list[MessageRow]]:
        state = self._state(bal_id, folder_id)
        return state.folder, [state.messages[u].row for u in sorted(state.messages)]

    async def index(self, bal_id: int, folder_id: int) -> tuple[Folder, FolderIndex]:
        folder, rows = await self.snapshot(bal_id, folder_id)
        return folder, FolderIndex(folder.id, folder.uidvalidity, folder.highestmodseq,
                                   [r.uid for r in rows], [r.flags for r in rows])

    async def details(self, bal_id: int, folder_id: int,
                      uids: Sequence[int]) -> dict[int, MessageRow]:
        msgs = self._state(bal_id, folder_id).messages
        return {u: msgs[u].row for u in uids if u in msgs}

    async def changes_since(self, bal_id: int, folder_id: int,
                            modseq: int) -> tuple[Folder, list[MessageRow], int]:
        folder, rows = await self.snapshot(bal_id, folder_id)
        return folder, [r for r in rows if r.modseq > modseq], len(rows)

    async def uids(self, bal_id: int, folder_id: int) -> list[int]:
        return sorted(self._state(bal_id, folder_id).messages)

    async def marker(self, bal_id: int, folder_id: int) -> tuple[int, int]:
        folder, _ = await self.snapshot(bal_id, folder_id)
        return folder.uidnext, folder.highestmodseq

    async def fetch_message(self, bal_id: int, folder_id: int, uid: int) -> bytes | None:
        return (await self.fetch_messages(bal_id, folder_id, [uid])).get(uid)

    async def fetch_messages(self, bal_id: int, folder_id: int, uids: Sequence[int], *,
                             octets: int | None = None) -> dict[int, bytes]:
        self.fetch_count += 1
        messages = self._state(bal_id, folder_id).messages
        return {uid: messages[uid].raw for uid in uids if uid in messages}

    async def _audit(self, audit: AuditFor | None, uids: Sequence[int]) -> None:
        """A write's events, written with it (the real store: in its transaction)."""
        if audit is not None and self.audit_sink is not None:
            for event in audit(uids):
                await self.audit_sink.record(event)

    async def set_flags(self, bal_id: int, folder_id: int, uids: Sequence[int],
                        flags: frozenset[str], mode: Literal["add", "remove", "replace"],
                        audit: AuditFor | None = None, *,
                        own: object = None) -> list[MessageRow]:
        # `own` is left empty: the view then reads its changes back, as it does after
        # another session's write
        state = self._state(bal_id, folder_id)
        await self._audit(audit, uids)
        out = []
        for uid in uids:
            msg = state.messages.get(uid)
            if msg is None:
                continue
            old = msg.row.flags
            new = old | flags if mode == "add" else old - flags if mode == "remove" else flags
            self._modseq += 1
            msg.row = replace(msg.row, flags=frozenset(new - {"\\Recent"}), modseq=self._modseq)
            out.append(msg.row)
        await self.notifier.bump(bal_id)
        return out

    async def expunge(self, bal_id: int, folder_id: int, uids: Sequence[int] | None = None,
                      audit: AuditFor | None = None, *, own: object = None) -> list[int]:
        state = self._state(bal_id, folder_id)
        gone = [u for u, m in sorted(state.messages.items())
                if "\\Deleted" in m.row.flags and (uids is None or u in uids)]
        for uid in gone:
            del state.messages[uid]
        if gone:
            await self._audit(audit, gone)
            await self.notifier.bump(bal_id)
        return gone

    async def fetch_meta(self, bal_id: int, folder_id: int,
                         uids: Sequence[int]) -> dict[int, MessageMeta]:
        self.meta_count += 1
        messages = self._state(bal_id, folder_id).messages
        return {u: compute_meta(messages[u].raw) for u in uids if u in messages}

    async def claim_recent(self, bal_id: int, folder_id: int, up_to: int, *,
                           claim: bool) -> int:
        state = self._state(bal_id, folder_id)
        before = state.recent_uid
        if claim:
            state.recent_uid = max(before, up_to)
        return before

    def _named(self, bal_id: int, name: str) -> _FolderState:
        state = self._folders.get((bal_id, "INBOX" if name.upper() == "INBOX" else name))
        if state is None:
            raise FolderError("nonexistent", "Mailbox does not exist")
        return state

    async def status(self, bal_id: int, name: str) -> FolderStatus:
        state = self._named(bal_id, name)
        rows = [m.row for m in state.messages.values()]
        return FolderStatus(len(rows), sum(r.uid > state.recent_uid for r in rows),
                            state.folder.uidnext, state.folder.uidvalidity,
                            sum("\\Seen" not in r.flags for r in rows), self._modseq)

    async def quota(self, bal_id: int) -> QuotaState:
        """Usage summed over the BAL's folders; the fake has no limits."""
        rows = [m.row for (bal, _), st in self._folders.items() if bal == bal_id
                for m in st.messages.values()]
        return QuotaState(sum(r.size for r in rows), len(rows))

    async def create_folder(self, bal_id: int, name: str) -> Folder:
        name = canonical_name(name)
        if (bal_id, name) in self._folders or name.upper() == "INBOX":
            raise FolderError("exists", "Mailbox already exists")
        return self.add_folder(bal_id, name, subscribed=False)

    async def delete_folder(self, bal_id: int, name: str) -> None:
        state = self._named(bal_id, name)
        del self._folders[(bal_id, state.folder.name)]
        await self.notifier.bump(bal_id)

    async def rename_folder(self, bal_id: int, old: str, new: str) -> None:
        state = self._named(bal_id, old)
        if (bal_id, new) in self._folders:
            raise FolderError("exists", "Target mailbox already exists")
        del self._folders[(bal_id, state.folder.name)]
        state.folder = replace(state.folder, name=new)
        self._folders[(bal_id, new)] = state

    async def subscribe(self, bal_id: int, name: str, subscribed: bool = True) -> None:
        state = self._named(bal_id, name)
        state.folder = replace(state.folder, subscribed=subscribed)

    async def subscriptions(self, bal_id: int) -> list[str]:
        return sorted(s.folder.name for (bal, _), s in self._folders.items()
                      if bal == bal_id and s.folder.subscribed)

    async def append(self, bal_id: int, name: str, messages: Sequence[NewMessage],
                     now: dt.datetime | None = None,
                     audit: AuditFor | None = None, *,
                     claim_for: int | None = None, own: object = None) -> AppendResult:
        state = self._named(bal_id, name)
        uids = [await self.deliver(bal_id, state.folder.name, m.raw, m.flags, m.internaldate)
                for m in messages]
        await self._audit(audit, uids)
        floor = None
        if claim_for == state.folder.id and uids:
            floor, state.recent_uid = state.recent_uid, max(state.recent_uid, *uids)
        return AppendResult(state.folder.uidvalidity, tuple(uids), floor)

    async def copy(self, bal_id: int, folder_id: int, uids: Sequence[int], target: str, *,
                   move: bool = False) -> CopyResult:
        source, dest = self._state(bal_id, folder_id), self._named(bal_id, target)
        if any(u not in source.messages for u in uids):
            raise MessagesGone("gone")
        new = [await self.deliver(bal_id, dest.folder.name, source.messages[u].raw,
                                  source.messages[u].row.flags,
                                  source.messages[u].row.internaldate) for u in uids]
        if move:
            for uid in uids:
                del source.messages[uid]
            await self.notifier.bump(bal_id)
        return CopyResult(dest.folder.uidvalidity, tuple(uids), tuple(new))


class AuditSink:
    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    async def record(self, event: AuditEvent) -> None:
        self.events.append(event)

    async def record_after_commit(self, event: AuditEvent) -> None:
        self.events.append(event)

    async def record_soon(self, event: AuditEvent) -> None:
        self.events.append(event)

    lost_records = 0

    def names(self) -> list[str]:
        return [e.event for e in self.events]


@dataclass
class FakeBackend:
    store: MailboxStore
    audit: AuditSink
    users: dict[str, tuple[str, Principal]]
    attempts: list[tuple[str, str]] = field(default_factory=list)

    async def authenticate(self, login: str, secret: str, peer: str,
                           authzid: str = "") -> Principal | None:
        self.attempts.append((login, peer))
        entry = self.users.get(login)
        if entry is None or entry[0] != secret:
            return None
        if authzid and authzid != entry[1].address:
            return None
        return entry[1]


ALICE = Principal(bal_id=1, address="alice@op-a.mssante.fr", bal_type="PER", person="alice")


def make_backend() -> FakeBackend:
    store, audit = MailboxStore(), AuditSink()
    store.audit_sink = audit
    for name, use in (("INBOX", None), ("Sent", "\\Sent"), ("Trash", "\\Trash"),
                      ("Archives", None), ("Archives/2023", None), ("Données", None)):
        store.add_folder(1, name, use, subscribed=name != "Archives")
    users = {"alice@op-a.mssante.fr": ("secret", ALICE)}
    return FakeBackend(store, audit, users)
