"""One session's view of its selected mailbox.

Owns: `MailboxView`: the MSN <-> UID map, the cached index rows (`RowTable`:
flags for every message, from the folder index SELECT started from and the
session's changes over it; size, internal date and MODSEQ read on demand and
held for the command that needs them), the known keywords, the notifier
version last seen, and the reconciliation of that state with a fresh store
snapshot into the untagged responses the client must see (EXPUNGE, EXISTS,
FETCH FLAGS, FLAGS).

Invariants:
- message sequence numbers change only through `* n EXPUNGE` responses; when
  EXPUNGE may not be sent (during FETCH, STORE, SEARCH: RFC 3501 7.4.1), an
  expunged message stays in the map as a "ghost" and is reported later;
- EXPUNGEs are emitted from the highest MSN down, so each number the client
  reads is still valid when it applies it; EXISTS never decreases otherwise;
- the session's own flag changes are applied to the cache directly, so they are
  not echoed back as if another session had made them;
- `\\Recent` is per session: the messages above the folder's recent floor when
  this session first saw them (SELECT claims them, EXAMINE does not), shown
  in FLAGS and counted by `* n RECENT` after each `* n EXISTS`.

Ref: RFC 3501 2.3.2 (\\Recent), 5.2, 5.5, 7.3.1, 7.3.2, 7.4.1; RFC 2180 4.
"""

from __future__ import annotations

import datetime as dt
import logging
from bisect import bisect_left, bisect_right
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Protocol

from imap_store.imap.parse.sequence import SequenceSet
from imap_store.imap.render.response import (
    FetchData,
    Rendered,
    Response,
    UntaggedData,
    UntaggedStatus,
    atoms,
    code,
    exists,
    expunge,
    recent,
    render_value,
)

from .backend import FolderInfo, MailboxStore, MessageInfo, OwnWrite
from .errors import CommandBad

log = logging.getLogger(__name__)
SYSTEM_FLAGS = ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")
DETAILS_BATCH = 2000
DetailReader = Callable[[Sequence[int]], Awaitable[Mapping[int, MessageInfo]]]


class IndexBase(Protocol):
    """The UIDs and flags a view starts from (`imap_store.store.folder_index.FolderIndex`)."""

    @property
    def uids(self) -> Sequence[int]: ...
    @property
    def flags(self) -> Sequence[frozenset[str]]: ...

    def position(self, uid: int) -> int | None: ...


@dataclass(frozen=True)
class IndexRow:
    """A message known from the index: its flags as this view knows them; size,
    internal date and MODSEQ from the details read for it (`RowTable.load`)."""

    uid: int
    flags: frozenset[str]
    detail: MessageInfo | None

    def _known(self) -> MessageInfo:
        if self.detail is None:
            raise LookupError(f"details of UID {self.uid} were not loaded")
        return self.detail

    @property
    def size(self) -> int:
        return self._known().size

    @property
    def internaldate(self) -> dt.datetime:
        return self._known().internaldate

    @property
    def modseq(self) -> int:
        return self._known().modseq


class RowTable:
    """uid -> index row of the view: rows the view adopted whole, over a shared
    index of UIDs and flags (never changed here) that SELECT started from.

    Size, internal date and MODSEQ of an index-only message are read on demand
    (`load`, before FETCH and SEARCH use them); its flags stay the view's."""

    def __init__(self, base: IndexBase | None = None,
                 rows: Iterable[MessageInfo] = ()) -> None:
        self._base = base
        self._rows: dict[int, MessageInfo] = {row.uid: row for row in rows}
        self._gone: set[int] = set()
        self._details: dict[int, MessageInfo] = {}

    def _base_flags(self, uid: int) -> frozenset[str] | None:
        if self._base is None or uid in self._gone:
            return None
        pos = self._base.position(uid)
        return None if pos is None else self._base.flags[pos]

    def __contains__(self, uid: object) -> bool:
        return isinstance(uid, int) and (uid in self._rows
                                         or self._base_flags(uid) is not None)

    def __getitem__(self, uid: int) -> MessageInfo:
        row = self.get(uid)
        if row is None:
            raise KeyError(uid)
        return row

    def get(self, uid: int) -> MessageInfo | None:
        row = self._rows.get(uid)
        if row is not None:
            return row
        flags = self._base_flags(uid)
        return None if flags is None else IndexRow(uid, flags, self._details.get(uid))

    def __setitem__(self, uid: int, row: MessageInfo) -> None:
        self._rows[uid] = row

    def __delitem__(self, uid: int) -> None:
        if uid not in self:
            raise KeyError(uid)
        self._rows.pop(uid, None)
        self._details.pop(uid, None)
        self._gone.add(uid)

    def untouched_flags(self, uids: Sequence[int]) -> Sequence[frozenset[str]] | None:
        """The index's flags when `uids` are exactly its UIDs and nothing was
        changed over it (the view as SELECT opened it), else None."""
        base = self._base
        if base is None or self._rows or self._gone or len(uids) != len(base.uids):
            return None
        return base.flags if not uids or (uids[0] == base.uids[0]
                                          and uids[-1] == base.uids[-1]) else None

    def missing(self, uids: Iterable[int]) -> list[int]:
        """Which of these messages have no size, internal date and MODSEQ here yet."""
        return [uid for uid in uids if uid not in self._rows and uid not in self._details
                and self._base_flags(uid) is not None]

    async def load(self, read: DetailReader | None, uids: Iterable[int]) -> None:
        """Read the details of those of `uids` that lack them, in batches."""
        todo = self.missing(uids)
        if read is None or not todo:
            return
        if len(self._details) > 4 * DETAILS_BATCH:
            self._details.clear()  # kept only until a later command needs others
        for start in range(0, len(todo), DETAILS_BATCH):
            self._details.update(await read(todo[start : start + DETAILS_BATCH]))


_RECENT = frozenset({"\\Recent"})


@lru_cache(maxsize=1024)
def flags_value(flags: frozenset[str]) -> Rendered:
    """A FLAGS list in a stable order (system flags first), rendered once per distinct
    set of flags: a FETCH of FLAGS renders the same few sets for every message."""
    ordered = sorted(flags, key=lambda f: (not f.startswith("\\"), f.lower()))
    return Rendered(render_value(atoms(ordered)))


@dataclass
class MailboxView:
    """The selected mailbox as this session knows it."""

    bal_id: int
    folder: FolderInfo
    read_only: bool
    version: int
    uids: list[int] = field(default_factory=list)
    rows: RowTable = field(default_factory=RowTable)
    ghosts: set[int] = field(default_factory=set)
    keywords: frozenset[str] = frozenset()
    recent: set[int] = field(default_factory=set)
    details: DetailReader | None = None
    claimed: tuple[int, int] | None = None
    """`(top, floor)`: this session's own APPEND moved the folder's `\\Recent` floor
    from `floor` up to `top` (`AppendResult.recent_floor`); the next refresh takes
    those UIDs as recent without claiming them again."""
    own: OwnWrite | None = None
    """What this session's last write to the folder did (`own_write()`): the next
    refresh takes it instead of reading the folder back, when it may."""

    @classmethod
    def open(
        cls, bal_id: int, folder: FolderInfo, rows: Sequence[MessageInfo], *, read_only: bool,
        version: int, recent_floor: int | None = None,
    ) -> MailboxView:
        """A view of a freshly taken snapshot; UIDs above `recent_floor` are recent."""
        view = cls(bal_id, folder, read_only, version)
        view.uids = [row.uid for row in rows]
        view.rows = RowTable(rows=rows)
        view.keywords = _keywords(rows)
        if recent_floor is not None:
            view.recent = {row.uid for row in rows if row.uid > recent_floor}
        return view

    @classmethod
    def from_index(
        cls, bal_id: int, folder: FolderInfo, index: IndexBase, *, read_only: bool,
        version: int, details: DetailReader, recent_floor: int | None = None,
    ) -> MailboxView:
        """A view of a folder index (UIDs and flags); the other row fields are
        read through `details` when a command needs them (`load_details`)."""
        view = cls(bal_id, folder, read_only, version)
        view.uids = list(index.uids)
        view.rows = RowTable(base=index)
        view.details = details
        view.keywords = frozenset(f for flags in set(index.flags) for f in flags
                                  if not f.startswith("\\"))
        if recent_floor is not None:
            view.recent = set(view.uids[bisect_left(view.uids, recent_floor + 1):])
        return view

    async def load_details(self, uids: Iterable[int]) -> None:
        """Make size, internal date and MODSEQ of these messages available in `rows`."""
        await self.rows.load(self.details, uids)

    def flags_of(self, uid: int) -> frozenset[str]:
        """The flags this session reports for a message (`\\Recent` included)."""
        return self.flags_of_row(self.rows[uid])

    def flags_of_row(self, row: MessageInfo) -> frozenset[str]:
        """`flags_of` for a row already looked up (FETCH, once per message)."""
        return row.flags | _RECENT if row.uid in self.recent else row.flags

    @property
    def exists(self) -> int:
        """Number of messages the client believes exist."""
        return len(self.uids)

    def msn_of(self, uid: int) -> int | None:
        """Message sequence number of a UID, if in view."""
        pos = bisect_left(self.uids, uid)
        return pos + 1 if pos < len(self.uids) and self.uids[pos] == uid else None

    def _msn(self, uid: int) -> int:
        return bisect_left(self.uids, uid) + 1

    def first_unseen(self) -> int | None:
        """MSN of the first message without `\\Seen` (SELECT's `[UNSEEN n]`)."""
        fresh = self.rows.untouched_flags(self.uids)
        if fresh is not None:  # just opened from an index: its flags, in UID order
            return next((msn for msn, flags in enumerate(fresh, 1) if "\\Seen" not in flags),
                        None)
        rows = self.rows
        for msn, uid in enumerate(self.uids, 1):
            if "\\Seen" not in rows[uid].flags:
                return msn
        return None

    def flag_names(self) -> tuple[str, ...]:
        """System flags plus the keywords in use (the `* FLAGS` list)."""
        return SYSTEM_FLAGS + tuple(sorted(self.keywords))

    def resolve(self, sequence: SequenceSet, *, uid: bool) -> list[tuple[int, int]]:
        """(msn, uid) pairs for a message set; BAD for a non-existent MSN."""
        if uid:
            return [(self._msn(u), u) for u in sequence.select_uids(self.uids)]
        empty_star = self.exists == 0 and sequence.uses_star()
        # RFC 3501 9 (`seq-number`): a number above the mailbox size names nothing: BAD.
        if sequence.explicit_max() > self.exists and not empty_star:
            raise CommandBad("Invalid message sequence number")
        return [(msn, self.uids[msn - 1]) for msn in sequence.select_msns(self.exists)]

    def live(self, pairs: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
        """The pairs whose message has not been expunged meanwhile."""
        return [(msn, uid) for msn, uid in pairs if uid not in self.ghosts]

    def apply_rows(self, rows: Iterable[MessageInfo]) -> bool:
        """Record rows changed by this session; True when keywords were added."""
        known = self.keywords
        for row in rows:
            if row.uid in self.rows:
                self.rows[row.uid] = row
                self.keywords |= _keywords([row])
        return self.keywords != known

    def reconcile(
        self, folder: FolderInfo, rows: Sequence[MessageInfo], *, allow_expunge: bool
    ) -> list[Response]:
        """Adopt a whole snapshot; return the untagged responses that describe it."""
        fresh = {row.uid for row in rows}
        gone = [uid for uid in self.uids if uid not in fresh]
        return self._adopt(folder, rows, gone, allow_expunge)

    def _adopt(self, folder: FolderInfo, changed: Sequence[MessageInfo], gone: Sequence[int],
               allow_expunge: bool) -> list[Response]:
        """Adopt changed rows and removed UIDs (`gone`, in UID order)."""
        self.folder = folder
        out = self._expunges(gone, allow_expunge)
        out += self._keyword_changes(changed)
        out += self._flag_changes(changed)
        out += self._arrivals(changed)
        return out

    def _expunges(self, gone: Sequence[int], allowed: bool) -> list[Response]:
        # RFC 3501 7.4.1: no EXPUNGE during FETCH, STORE or SEARCH; keep a ghost.
        if not allowed:
            self.ghosts.update(gone)
            return []
        out: list[Response] = []
        # RFC 3501 7.4.1: highest MSN first, so each number is valid when applied.
        for uid in reversed(gone):
            msn = self.msn_of(uid)
            assert msn is not None
            del self.uids[msn - 1]
            del self.rows[uid]
            self.recent.discard(uid)
            out.append(expunge(msn))
        self.ghosts.clear()
        return out

    def _keyword_changes(self, rows: Sequence[MessageInfo]) -> list[Response]:
        added = _keywords(rows) - self.keywords
        if not added:
            return []
        self.keywords |= added
        return list(self.flags_responses())

    def flags_responses(self) -> tuple[Response, Response]:
        """`* FLAGS (...)` and `* OK [PERMANENTFLAGS (...)]` (RFC 3501 7.2.6)."""
        names = self.flag_names()
        # RFC 3501 7.1 (PERMANENTFLAGS): `\*` lets the client create keywords.
        permanent = (*names, "\\*") if not self.read_only else ()
        return (
            UntaggedData("FLAGS", (atoms(names),)),
            UntaggedStatus("OK", "Flags permitted", code("PERMANENTFLAGS", atoms(permanent))),
        )

    def _flag_changes(self, changed: Sequence[MessageInfo]) -> list[Response]:
        out: list[Response] = []
        for row in changed:
            known = self.rows.get(row.uid)
            if known is None:
                continue
            self.rows[row.uid] = row
            if row.flags != known.flags:
                items = (("UID", row.uid), ("FLAGS", flags_value(self.flags_of(row.uid))))
                out.append(FetchData(self._msn(row.uid), items))
        return out

    def _arrivals(self, rows: Sequence[MessageInfo]) -> list[Response]:
        last = self.uids[-1] if self.uids else 0
        added = [row for row in rows if row.uid > last]
        if any(row.uid < last and row.uid not in self.rows for row in rows):
            log.warning("snapshot has unknown UIDs below the view's last UID; ignored")
        for row in added:
            self.uids.append(row.uid)
            self.rows[row.uid] = row
        # RFC 3501 7.3.1: EXISTS announces the new size (7.4.1: it never shrinks).
        return [exists(self.exists)] if added else []

    def own_write(self) -> OwnWrite:
        """A record for the store to fill in with what this session's write to the
        folder does (`OwnWrite`); the next refresh reads it."""
        self.own = OwnWrite()
        return self.own

    async def refresh(self, store: MailboxStore, *, allow_expunge: bool,
                      poll: bool = False) -> list[Response]:
        """Catch up with the store when the BAL's version moved, or, with `poll`
        (NOOP, CHECK), when the folder's committed marker differs from the view's:
        a change another process committed is then reported at once, not after the
        folder watcher's next poll (RFC 3501 6.1.2: NOOP is the client's poll).

        Reads only the entries changed since the view's HIGHESTMODSEQ and the
        folder's count; when the count shows expunges the view does not know
        of yet, the folder's UIDs too (RFC 7162 3.1.2).

        After this session's own write (`own_write`), what the write recorded stands
        for that read, and for the poll, when nothing else moved the folder or the
        BAL's version meanwhile (`OwnWrite.catches_up`)."""
        version = store.notifier.version(self.bal_id)
        marker = (self.folder.uidnext, self.folder.highestmodseq)
        own, self.own = self.own, None
        folder: FolderInfo
        changed: Sequence[MessageInfo]
        if own is not None and own.catches_up(marker, self.version, version):
            self.version = version
            if own.folder is None:  # the write changed nothing: the folder is as viewed
                return self._ghosts_out(allow_expunge)
            folder, changed, count = own.folder, own.rows, own.folder.messages
        else:
            moved_elsewhere = (version == self.version and poll
                               and await store.marker(self.bal_id, self.folder.id) != marker)
            if version == self.version and not moved_elsewhere:
                return self._ghosts_out(allow_expunge)
            folder, changed, count = await store.changes_since(
                self.bal_id, self.folder.id, self.folder.highestmodseq)
            self.version = version
        last = self.uids[-1] if self.uids else 0
        arrived = sum(1 for row in changed if row.uid > last)
        if count == len(self.uids) - len(self.ghosts) + arrived:
            gone = sorted(self.ghosts)
        else:  # expunged elsewhere: which UIDs are left tells which went
            present = set(await store.uids(self.bal_id, self.folder.id))
            gone = [uid for uid in self.uids if uid not in present]
        out = self._adopt(folder, changed, gone, allow_expunge)
        claimed, self.claimed = self.claimed, None
        if self.uids and self.uids[-1] > last:
            out.append(await self._claim_recent(store, last, claimed))
        return out

    def _ghosts_out(self, allow_expunge: bool) -> list[Response]:
        """Nothing new from the store: the EXPUNGEs of the ghosts, when they may go."""
        ghosts = sorted(self.ghosts) if allow_expunge else []
        return self._expunges(ghosts, True) if ghosts else []

    async def _claim_recent(self, store: MailboxStore, last: int,
                            claimed: tuple[int, int] | None) -> Response:
        # RFC 3501 2.3.2: \Recent goes to the first session that sees a message.
        # `uids` ascends: only its tail above the floor is new (no walk of the folder).
        top, uids = self.uids[-1], self.uids
        if claimed is not None:  # this session's APPEND claimed (floor, own top] already
            own_top, own_floor = claimed
            self.recent.update(uids[bisect_right(uids, max(last, own_floor)):
                                    bisect_right(uids, own_top)])
            if top <= own_top:
                return recent(len(self.recent))
            last = max(last, own_top)
        floor = await store.claim_recent(self.bal_id, self.folder.id, top,
                                         claim=not self.read_only)
        self.recent.update(uids[bisect_right(uids, max(last, floor)):])
        return recent(len(self.recent))


def _keywords(rows: Iterable[MessageInfo]) -> frozenset[str]:
    return frozenset(f for row in rows for f in row.flags if not f.startswith("\\"))

