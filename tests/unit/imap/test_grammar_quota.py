"""Grammar of GETQUOTA, GETQUOTAROOT and SETQUOTA (RFC 9208): values out, BAD otherwise."""

from __future__ import annotations

import pytest

from imap_store.imap.errors import ParseError
from imap_store.imap.parse.command import MailboxArgs, QuotaRootArgs, SetQuotaArgs
from imap_store.imap.parse.parser import parse_line


def test_getquota_and_getquotaroot() -> None:
    assert parse_line(b'a GETQUOTA ""').args == QuotaRootArgs("")
    assert parse_line(b"a GETQUOTA root").args == QuotaRootArgs("root")
    assert parse_line(b"a GETQUOTAROOT inbox").args == MailboxArgs("INBOX")
    assert parse_line(b"a GETQUOTAROOT &AOk-t&AOk-").args == MailboxArgs("été")


def test_setquota_list() -> None:
    args = parse_line(b'a SETQUOTA "" (STORAGE 512 message 10)').args
    assert args == SetQuotaArgs("", (("STORAGE", 512), ("MESSAGE", 10)))
    assert parse_line(b'a SETQUOTA "" ()').args == SetQuotaArgs("", ())


@pytest.mark.parametrize("line", [
    b"a GETQUOTA", b'a GETQUOTA "" extra', b"a GETQUOTAROOT", b'a SETQUOTA ""',
    b'a SETQUOTA "" (STORAGE)', b'a SETQUOTA "" (STORAGE -1)', b'a SETQUOTA "" (STORAGE 1',
    b'a SETQUOTA "" (STORAGE 99999999999999999999)',
    b'a SETQUOTA "" (' + b" ".join(b"R%d 1" % i for i in range(17)) + b")",
])
def test_malformed_quota_commands_are_bad(line: bytes) -> None:
    with pytest.raises(ParseError):
        parse_line(line)
