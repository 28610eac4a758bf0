"""EXPUNGE removes exactly the entries flagged `\\Deleted` (RFC 3501 6.4.3).

The store narrows the candidates in SQL by the text "Deleted" and checks the
exact system flag itself: keywords that contain the word, alone or beside
other flags, never make a message go.
"""

from __future__ import annotations

from tests.protocol.imap_support import Raw, in_thread, numbered, seed
from tests.support import Operator


async def test_expunge_takes_the_deleted_flag_not_words_like_it(operator: Operator) -> None:
    bob = await operator.add_bal("bob")
    await seed(operator, bob, "INBOX", [numbered(n) for n in range(6)], [
        frozenset({"Deleted"}),
        frozenset({"\\Deleted"}),
        frozenset({"NotDeleted", "\\Seen"}),
        frozenset({"$Deleted_Later"}),
        frozenset({"\\Flagged", "\\Deleted", "Deleted"}),
        frozenset(),
    ])
    raw = await in_thread(Raw, operator, bob)
    try:
        await in_thread(raw.cmd, b"S", b"SELECT INBOX")
        assert await in_thread(raw.cmd, b"E", b"EXPUNGE") == [
            b"* 5 EXPUNGE", b"* 2 EXPUNGE", b"E OK EXPUNGE completed"]
        lines = await in_thread(raw.cmd, b"F", b"UID FETCH 1:* (FLAGS)")
        assert lines[:-1] == [
            b"* 1 FETCH (UID 1 FLAGS (\\Recent Deleted))",
            b"* 2 FETCH (UID 3 FLAGS (\\Recent \\Seen NotDeleted))",
            b"* 3 FETCH (UID 4 FLAGS (\\Recent $Deleted_Later))",
            b"* 4 FETCH (UID 6 FLAGS (\\Recent))"], lines
    finally:
        raw.close()
