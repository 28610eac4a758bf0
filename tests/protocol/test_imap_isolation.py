"""Isolation between BALs: B cannot SELECT, STATUS, FETCH, COPY from or APPEND
to A's folders, whatever name it tries, and LIST never shows them; the store
API refuses A's folder ids for B.

Ref: docs/architecture.md "IMAP engine" (names resolved inside the BAL, never as
paths); RFC 3501 5.1, 6.3.
"""

from __future__ import annotations

import pytest

from imap_store.store.folder_ops import FolderError
from imap_store.store.mailbox import NewMessage
from tests.protocol.imap_support import TEXT, Raw, in_thread, numbered, seed
from tests.support import DOMAIN, Operator

SECRET = b"Subject: secret-of-alice\r\n\r\nconfidential body\r\n"


def _names(alice: str) -> list[bytes]:
    local = alice.split("@")[0]
    names = ["Secret", f"../{alice}/INBOX", f"../{alice}/Secret", "../Secret", "../INBOX",
             f"{alice}/INBOX", f"{alice}/Secret", f"#users/{local}/INBOX",
             f"#users/{alice}/Secret", f"~{local}", f"~{local}/Secret", f"~{alice}/INBOX",
             f"Other Users/{local}/INBOX", f"Other Users/{alice}/Secret",
             f"INBOX/../../{alice}/Secret", f"/{alice}/Secret", "/Secret", "Secret/"]
    return [b'"' + name.encode() + b'"' for name in names]


async def _two_bals(operator: Operator) -> tuple[str, str]:
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")
    bal_id = operator.bals[alice].bal_id
    await operator.running.services.mailbox.create_folder(bal_id, "Secret")  # type: ignore[union-attr]
    await seed(operator, alice, "Secret", [SECRET])
    await seed(operator, alice, "INBOX", [SECRET])
    await seed(operator, bob, "INBOX", [numbered(1)])
    return alice, bob


async def test_no_name_reaches_another_bal(operator: Operator) -> None:
    alice, bob = await _two_bals(operator)
    raw = await in_thread(Raw, operator, bob)
    for n, name in enumerate(_names(alice)):
        for verb in (b"SELECT ", b"EXAMINE ", b"DELETE ", b"SUBSCRIBE "):
            lines = await in_thread(raw.cmd, b"T%d" % n, verb + name)
            assert lines[-1].startswith(b"T%d NO" % n), (verb, name, lines)
        lines = await in_thread(raw.cmd, b"S%d" % n, b"STATUS " + name + b" (MESSAGES)")
        assert lines[-1].startswith(b"S%d NO" % n) and len(lines) == 1, (name, lines)
        lines = await in_thread(raw.cmd, b"R%d" % n, b"RENAME " + name + b" Mine")
        assert lines[-1].startswith(b"R%d NO" % n), (name, lines)
        raw.send(b"A%d APPEND " % n + name + b" {%d+}\r\n" % len(TEXT) + TEXT + b"\r\n")
        lines = await in_thread(raw.until_tagged, b"A%d" % n)
        assert lines[-1].startswith(b"A%d NO" % n), (name, lines)
    await in_thread(raw.cmd, b"I", b"SELECT INBOX")
    for n, name in enumerate(_names(alice)):
        lines = await in_thread(raw.cmd, b"C%d" % n, b"COPY 1 " + name)
        assert lines[-1].startswith(b"C%d NO" % n), (name, lines)
        lines = await in_thread(raw.cmd, b"M%d" % n, b"MOVE 1 " + name)
        assert lines[-1].startswith(b"M%d NO" % n), (name, lines)
    fetched = await in_thread(raw.cmd, b"F", b"UID FETCH 1:* (BODY.PEEK[])")
    assert len(fetched) == 2 and b"secret-of-alice" not in b"".join(fetched)
    raw.close()
    await _alice_unchanged(operator, alice)


async def _alice_unchanged(operator: Operator, alice: str) -> None:
    raw = await in_thread(Raw, operator, alice)
    for folder in (b"INBOX", b"Secret"):
        lines = await in_thread(raw.cmd, b"S", b"STATUS " + folder + b" (MESSAGES UIDNEXT)")
        assert lines[0] == b'* STATUS "%s" (MESSAGES 1 UIDNEXT 2)' % folder
    raw.close()


async def test_list_never_shows_another_bal(operator: Operator) -> None:
    alice, bob = await _two_bals(operator)
    raw = await in_thread(Raw, operator, bob)
    patterns = [b'"" "*"', b'"" "%"', b'"" "%/%"', b'"~alice/" "*"', b'"#users/" "*"',
                b'"Other Users/" "*"', b'"../" "*"', b'"" "../*"', b'"" "~*"',
                b'"' + alice.encode() + b'/" "*"', b'"" "*Secret*"', b'"/" "*"']
    seen = []
    for n, pattern in enumerate(patterns):
        for verb in (b"LIST ", b"LSUB "):
            seen += await in_thread(raw.cmd, b"L%d" % n, verb + pattern)
    text = b"\n".join(seen)
    assert b"Secret" not in text and b"alice" not in text
    assert (await in_thread(raw.cmd, b"N", b"NAMESPACE"))[0] == b'* NAMESPACE (("" "/")) NIL NIL'
    for n, name in enumerate((b'"#users/alice"', b'"~alice"', b'"../x"', b'"a//b"')):
        assert (await in_thread(raw.cmd, b"C%d" % n, b"CREATE " + name))[-1].startswith(
            b"C%d NO [CANNOT]" % n)
    raw.close()


async def test_store_refuses_another_bals_folder_ids(operator: Operator) -> None:
    alice, bob = await _two_bals(operator)
    store = operator.running.services.mailbox  # type: ignore[union-attr]
    a_id, b_id = operator.bals[alice].bal_id, operator.bals[bob].bal_id
    secret = await store.get_folder(a_id, "Secret")
    assert secret is not None and await store.get_folder(b_id, "Secret") is None
    calls = [
        store.snapshot(b_id, secret.id), store.fetch_message(b_id, secret.id, 1),
        store.fetch_messages(b_id, secret.id, [1]),
        store.fetch_meta(b_id, secret.id, [1]), store.status(b_id, "Secret"),
        store.set_flags(b_id, secret.id, [1], frozenset({"\\Deleted"}), "add"),
        store.expunge(b_id, secret.id), store.copy(b_id, secret.id, [1], "INBOX"),
        store.claim_recent(b_id, secret.id, 1, claim=True),
        store.append(b_id, "Secret", [NewMessage(TEXT)]),
        store.rename_folder(b_id, "Secret", "Mine"), store.delete_folder(b_id, "Secret"),
    ]
    for call in calls:
        with pytest.raises(FolderError):
            await call
    assert [f.name for f in await store.list_folders(b_id)] == [
        "Drafts", "INBOX", "Junk", "Sent", "Trash"]
    assert f"@{DOMAIN}" in alice
