"""Evaluating SEARCH criteria against the selected mailbox.

Owns: `run_search(view, key, load)`: the (msn, uid) pairs that match, in
ascending order, and `content_need(key)`. Flag, UID and sequence keys use
the view's cached rows only, size and internal-date keys the rows' details
(read first for the whole view, `needs_row_details`); header and sent-date keys
need the stored header only (`"header"`); BODY and TEXT decrypt the message
(`"body"`), once per message and only when the criteria need it.

Invariants: dates compare by calendar day disregarding time and zone;
`\\Recent` is the view's per-session set (RECENT, NEW, OLD); messages expunged
meanwhile (ghosts) never match; keywords compare case-insensitively.

Ref: RFC 3501 6.4.4, 7.2.5; RFC 2180 4.3.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from imap_store.imap.parse.search_keys import (
    AllKey,
    AndKey,
    DateKey,
    FlagKey,
    HeaderKey,
    NotKey,
    OrKey,
    SearchKey,
    SeqKey,
    SizeKey,
    TextKey,
    UidKey,
)
from message.text import MessageText

from .backend import MessageInfo
from .view import MailboxView

Loader = Callable[[int], Awaitable[bytes | None]]


@dataclass(frozen=True)
class Candidate:
    """One message as seen by the evaluator."""

    msn: int
    row: MessageInfo
    text: MessageText | None
    last_msn: int
    last_uid: int
    recent: bool = False


Need = Literal["none", "header", "body"]
_RANK: dict[Need, int] = {"none": 0, "header": 1, "body": 2}


def _most(needs: list[Need]) -> Need:
    return max(needs, key=_RANK.__getitem__, default="none")


def content_need(key: SearchKey) -> Need:
    """What evaluating `key` needs of the message: nothing, its header, its body."""
    if isinstance(key, TextKey):
        return "body"
    if isinstance(key, HeaderKey) or (isinstance(key, DateKey) and key.field == "sent"):
        return "header"
    if isinstance(key, NotKey):
        return content_need(key.key)
    if isinstance(key, OrKey):
        return _most([content_need(key.left), content_need(key.right)])
    if isinstance(key, AndKey):
        return _most([content_need(k) for k in key.keys])
    return "none"


def needs_row_details(key: SearchKey) -> bool:
    """True when evaluating `key` reads a message's size or internal date."""
    if isinstance(key, SizeKey) or (isinstance(key, DateKey) and key.field == "internal"):
        return True
    if isinstance(key, NotKey):
        return needs_row_details(key.key)
    if isinstance(key, OrKey):
        return needs_row_details(key.left) or needs_row_details(key.right)
    if isinstance(key, AndKey):
        return any(needs_row_details(k) for k in key.keys)
    return False


def needs_content(key: SearchKey) -> bool:
    """True when evaluating `key` needs the message (header or body)."""
    return content_need(key) != "none"


def _flag(key: FlagKey, cand: Candidate) -> bool:
    if key.flag == "\\Recent":  # RFC 3501 2.3.2: \Recent is this session's, not stored
        return cand.recent == key.present
    wanted = key.flag.lower()  # keywords compare case-insensitively
    return any(f.lower() == wanted for f in cand.row.flags) == key.present


def _date(key: DateKey, cand: Candidate) -> bool:
    # RFC 3501 6.4.4: dates compare by day, disregarding time and timezone.
    if key.field == "internal":
        day = cand.row.internaldate.date()
    elif cand.text is None or cand.text.sent_date is None:
        return False
    else:
        day = cand.text.sent_date
    if key.op == "before":
        return day < key.date
    return day == key.date if key.op == "on" else day >= key.date


def _content(key: HeaderKey | TextKey, text: MessageText | None) -> bool:
    if text is None:
        return False
    if isinstance(key, HeaderKey):
        return text.header_contains(key.field, key.value)
    return text.body_contains(key.value) if key.where == "body" else text.text_contains(key.value)


def matches(key: SearchKey, cand: Candidate) -> bool:
    """Does `cand` satisfy `key`?"""
    match key:
        case AllKey():
            return True
        case FlagKey():
            return _flag(key, cand)
        case DateKey():
            return _date(key, cand)
        case SizeKey():
            return cand.row.size > key.size if key.op == "larger" else cand.row.size < key.size
        case HeaderKey() | TextKey():
            return _content(key, cand.text)
        case UidKey():
            return key.sequence.contains(cand.row.uid, cand.last_uid)
        case SeqKey():
            return key.sequence.contains(cand.msn, cand.last_msn)
        case NotKey():
            return not matches(key.key, cand)
        case OrKey():
            return matches(key.left, cand) or matches(key.right, cand)
        case AndKey():
            return all(matches(k, cand) for k in key.keys)
    return False


async def run_search(view: MailboxView, key: SearchKey, load: Loader) -> list[tuple[int, int]]:
    """The (msn, uid) pairs of the view that match `key`."""
    content = needs_content(key)
    if needs_row_details(key):
        await view.load_details(uid for uid in view.uids if uid not in view.ghosts)
    last_uid = view.uids[-1] if view.uids else 0
    found = []
    for msn, uid in enumerate(view.uids, 1):
        if uid in view.ghosts:  # RFC 2180 4.3: an expunged message matches nothing
            continue
        raw = await load(uid) if content else None
        text = MessageText(raw) if raw is not None else None
        cand = Candidate(msn, view.rows[uid], text, view.exists, last_uid, uid in view.recent)
        if matches(key, cand):
            found.append((msn, uid))
    return found
