"""SEARCH TEXT and BODY over a mailbox holding deeply nested messages, driven by
imaplib against the real store: the search answers OK with the right UIDs
instead of failing for the whole mailbox. The messages are stored through the
store (as mail kept from before `limits.max_mime_depth`): APPEND and SMTP now
refuse such nesting (tests/protocol/test_hostile_messages.py).

Ref: RFC 3501 6.4.4 (SEARCH), 6.3.11 (APPEND); RFC 2046 5.1 (multipart), 5.2.1 (message/rfc822).
"""

from __future__ import annotations

import re

from tests.protocol.imap_support import imaps, in_thread, numbered, seed
from tests.support import Operator
from tests.unit.test_message_text import deep_multipart, deep_rfc822


def _uids(answer: tuple[str, list[bytes]]) -> list[int]:
    status, data = answer
    assert status == "OK", answer
    return [int(uid) for uid in data[0].split()]


async def test_search_text_and_body_over_deeply_nested_messages(operator: Operator) -> None:
    bob = await operator.add_bal("bob")
    messages = [
        deep_multipart(500, b"needle at the bottom"),
        numbered(2, body="needle at the bottom"),
        deep_multipart(500, b"only hay"),
        deep_rfc822(500, b"needle at the bottom"),
        numbered(5, body="hay"),
        deep_multipart(3000, b"needle at the bottom"),
    ]

    await seed(operator, bob, "INBOX", messages)

    def run() -> None:
        c = imaps(operator, bob)
        assert c.select("INBOX") == ("OK", [b"6"])
        assert _uids(c.uid("SEARCH", "TEXT", '"needle at the bottom"')) == [1, 2, 4, 6]
        assert _uids(c.uid("SEARCH", "BODY", '"NEEDLE at the bottom"')) == [1, 2, 4, 6]
        assert _uids(c.uid("SEARCH", "BODY", "hay")) == [3, 5]
        assert _uids(c.uid("SEARCH", "TEXT", "deep")) == [1, 3, 6]
        assert _uids(c.uid("SEARCH", "NOT", "BODY", "needle")) == [3, 5]
        assert _uids(c.search(None, "SUBJECT", '"level 499"')) == [4]
        status, data = c.uid("FETCH", "4", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        assert status == "OK" and re.search(rb"level 499", data[0][1]), data
        c.logout()

    await in_thread(run)
