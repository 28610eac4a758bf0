"""SEARCH evaluation against the view (and message content when needed)."""

import datetime as dt

from imap_store.imap.parse.command import SearchArgs
from imap_store.imap.parse.parser import parse_line
from imap_store.imap.search_eval import run_search
from imap_store.imap.view import MailboxView
from tests.unit.imap.fake_backend import Folder, MessageRow

FOLDER = Folder(1, 1, "INBOX", 77, 10, None, True, 1)
MESSAGES = {
    1: b"From: Alice <alice@x>\r\nSubject: =?utf-8?q?R=C3=A9sultats?=\r\n"
       b"Date: Mon, 4 Mar 2024 23:30:00 -0500\r\n\r\nBonjour docteur\r\n",
    2: b"From: <bob (c)@ (c) y>\r\nSubject: hello\r\n\r\nNothing here\r\n",
    4: b"From: carol@z\r\nSubject: other\r\nContent-Type: text/plain; charset=utf-8\r\n"
       b"Content-Transfer-Encoding: base64\r\n\r\nw6lsw6lwaGFudA==\r\n",
}
ROWS = [
    MessageRow(1, frozenset({"\\Seen"}), 100, dt.datetime(2024, 3, 1, 23, 0, tzinfo=dt.UTC), 1),
    MessageRow(2, frozenset({"\\Flagged", "$Work"}), 5000,
               dt.datetime(2024, 3, 5, tzinfo=dt.UTC), 1),
    MessageRow(4, frozenset({"\\Deleted"}), 300, dt.datetime(2024, 3, 10, tzinfo=dt.UTC), 1),
]


async def search(criteria: bytes, uid: bool = True) -> list[int]:
    view = MailboxView.open(1, FOLDER, ROWS, read_only=False, version=0)
    args = parse_line(b"a SEARCH " + criteria).args
    assert isinstance(args, SearchArgs)

    async def load(u: int) -> bytes | None:
        return MESSAGES.get(u)

    found = await run_search(view, args.criteria, load)
    return [u if uid else m for m, u in found]


async def test_flag_keys() -> None:
    assert await search(b"ALL") == [1, 2, 4]
    assert await search(b"SEEN") == [1]
    assert await search(b"UNSEEN") == [2, 4]
    assert await search(b"DELETED") == [4]
    assert await search(b"FLAGGED") == [2]
    assert await search(b"NEW") == []
    assert await search(b"OLD") == [1, 2, 4]
    assert await search(b"KEYWORD $work") == [2]
    assert await search(b"NOT DELETED UNSEEN") == [2]
    assert await search(b"OR SEEN DELETED") == [1, 4]


async def test_numbers_and_sizes() -> None:
    assert await search(b"UID 2:*") == [2, 4]
    assert await search(b"UID 9:*") == [4]
    assert await search(b"2:3", uid=False) == [2, 3]
    assert await search(b"LARGER 200") == [2, 4]
    assert await search(b"SMALLER 200") == [1]


async def test_internal_dates() -> None:
    assert await search(b"SINCE 5-Mar-2024") == [2, 4]
    assert await search(b"BEFORE 5-Mar-2024") == [1]
    assert await search(b"ON 1-Mar-2024") == [1]


async def test_content_keys() -> None:
    assert await search("SUBJECT \"résultats\"".encode()) == [1]
    assert await search(b"FROM ALICE") == [1]
    assert await search(b"FROM bob@y") == [2]
    assert await search(b"BODY docteur") == [1]
    assert await search(b"TEXT hello") == [2]
    assert await search("BODY \"éléphant\"".encode()) == [4]
    assert await search(b"HEADER Content-Transfer-Encoding \"\"") == [4]
    assert await search(b"SENTON 4-Mar-2024") == [1]
    assert await search(b"SENTSINCE 1-Jan-2000") == [1]
