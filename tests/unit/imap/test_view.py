"""The per-session mailbox view: MSN map, held-back expunges, updates."""

import datetime as dt

import pytest

from imap_store.imap.errors import CommandBad
from imap_store.imap.parse.sequence import SeqRange, SequenceSet
from imap_store.imap.render.response import FetchData, UntaggedData
from imap_store.imap.view import MailboxView
from tests.unit.imap.fake_backend import Folder, MessageRow

FOLDER = Folder(1, 1, "INBOX", 77, 10, None, True, 1)
WHEN = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def row(uid: int, *flags: str) -> MessageRow:
    return MessageRow(uid, frozenset(flags), 100, WHEN, 1)


def view_of(*uids: int) -> MailboxView:
    return MailboxView.open(1, FOLDER, [row(u) for u in uids], read_only=False, version=0)


def rendered(responses: list[object]) -> list[bytes]:
    return [r.render() for r in responses]  # type: ignore[attr-defined]


def test_expunges_descend_and_renumber() -> None:
    view = view_of(3, 5, 7, 9)
    out = view.reconcile(FOLDER, [row(5), row(9)], allow_expunge=True)
    assert rendered(out) == [b"* 3 EXPUNGE\r\n", b"* 1 EXPUNGE\r\n"]
    assert view.uids == [5, 9]
    assert view.msn_of(9) == 2


def test_expunges_held_back_as_ghosts() -> None:
    view = view_of(3, 5, 7)
    assert view.reconcile(FOLDER, [row(3), row(7), row(8)], allow_expunge=False) == [
        UntaggedData("EXISTS", number=4)]
    assert view.uids == [3, 5, 7, 8]
    assert view.ghosts == {5}
    pairs = view.resolve(SequenceSet((SeqRange(1, None),)), uid=False)
    assert view.live(pairs) == [(1, 3), (3, 7), (4, 8)]
    out = view.reconcile(FOLDER, [row(3), row(7), row(8)], allow_expunge=True)
    assert rendered(out) == [b"* 2 EXPUNGE\r\n"]
    assert view.ghosts == set()


def test_flag_changes_from_elsewhere_are_reported() -> None:
    view = view_of(3, 5)
    out = view.reconcile(FOLDER, [row(3), row(5, "\\Seen")], allow_expunge=True)
    assert out == [FetchData(2, (("UID", 5), ("FLAGS", out[0].items[1][1])))]  # type: ignore[union-attr]
    assert out[0].render() == b"* 2 FETCH (UID 5 FLAGS (\\Seen))\r\n"


def test_own_changes_are_not_echoed() -> None:
    view = view_of(3)
    view.apply_rows([row(3, "\\Flagged")])
    assert view.reconcile(FOLDER, [row(3, "\\Flagged")], allow_expunge=True) == []


def test_new_keyword_announces_flags() -> None:
    view = view_of(3)
    out = rendered(view.reconcile(FOLDER, [row(3, "$Junk")], allow_expunge=True))
    assert out[0].startswith(b"* FLAGS (\\Answered") and b"$Junk" in out[0]
    assert b"PERMANENTFLAGS" in out[1]


def test_resolve_msn_bounds() -> None:
    view = view_of(3, 5)
    with pytest.raises(CommandBad):
        view.resolve(SequenceSet((SeqRange(3, 3),)), uid=False)
    assert view.resolve(SequenceSet((SeqRange(2, None),)), uid=False) == [(2, 5)]
    assert view.resolve(SequenceSet((SeqRange(4, 4294967295),)), uid=True) == [(2, 5)]
    assert view.resolve(SequenceSet((SeqRange(100, None),)), uid=True) == [(2, 5)]
    empty = view_of()
    assert empty.resolve(SequenceSet((SeqRange(1, None),)), uid=False) == []


def test_first_unseen() -> None:
    view = MailboxView.open(1, FOLDER, [row(1, "\\Seen"), row(2)], read_only=False, version=0)
    assert view.first_unseen() == 2
