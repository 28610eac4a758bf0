"""Pure pieces of the store and engine behind the mailbox commands: folder
name rules, MIME parameters, uid-set rendering, BINARY decoding, meta codec."""

import pytest

from imap_store.imap.binary_append import without_nul
from imap_store.imap.commands.mailbox import uid_set
from imap_store.imap.errors import CommandNo
from imap_store.imap.render.binary_section import binary_bytes, binary_value, quoted_printable
from imap_store.imap.render.response import render_value
from imap_store.store.folder_ops import FolderError, canonical_name
from message.meta import compute_meta
from message.meta_codec import decode_meta, encode_meta
from message.mime_params import header_params
from message.mime_tree import parse_message


@pytest.mark.parametrize("name,stored", [("inbox", "INBOX"), ("Inbox/Sub", "INBOX/Sub"),
                                         ("Projets/2024", "Projets/2024"),
                                         ("Other Users/x", "Other Users/x"), ("a.b", "a.b")])
def test_canonical_names(name: str, stored: str) -> None:
    assert canonical_name(name) == stored


@pytest.mark.parametrize("name", ["", "/", "a/", "/a", "a//b", "..", "a/../b", "./a", "#users/x",
                                  "~bob", "a*", "b%", "tab\there", "x" * 401, "nul\x00"])
def test_refused_names(name: str) -> None:
    with pytest.raises(FolderError) as refused:
        canonical_name(name)
    assert refused.value.reason == "invalid"


def test_header_params() -> None:
    assert header_params('text/plain; charset="utf-8"; FORMAT=flowed; charset=x') == (
        "text/plain", [("CHARSET", "utf-8"), ("FORMAT", "flowed")])
    assert header_params("attachment; filename*0*=utf-8''r%C3%A9; filename*1*=sum%C3%A9")[1] == [
        ("FILENAME*", "utf-8''r%C3%A9sum%C3%A9")]
    assert header_params('inline; filename*1="b"; filename*0="a "')[1] == [("FILENAME", "a b")]
    assert header_params('x; name="unterminated')[1] == [("NAME", "unterminated")]
    for junk in ("", ";", ";;=;", '"', "a; =b; c=", "a;\r\n b=c"):
        header_params(junk)


def test_uid_set() -> None:
    assert uid_set([1]).text == "1"
    assert uid_set([1, 2, 3, 5, 7, 8]).text == "1:3,5,7:8"


def test_binary_decoding() -> None:
    msg = (b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
           b"--b\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\nAw\r\n"
           b"--b\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9=\r\n!\r\n"
           b"--b\r\nContent-Transfer-Encoding: base64\r\n\r\n@@!!bad*b64=\r\n"
           b"--b\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin\r\n--b--\r\n")
    root = parse_message(msg)
    assert binary_bytes(root, (1,)) == b"\x00\x01\x02\x03"
    assert binary_bytes(root, (2,)) == "café!".encode()
    assert isinstance(binary_bytes(root, (3,)), bytes)
    assert binary_bytes(root, (9,)) is None
    assert binary_bytes(root, ()) == msg
    with pytest.raises(CommandNo):
        binary_bytes(root, (4,))
    assert render_value(binary_value(b"a\x00")) == b"~{2}\r\na\x00"
    assert render_value(binary_value(b"ab")) == b"{2}\r\nab"


@pytest.mark.parametrize("raw", [b"", b"\r\n", b"no header at all", b"Subject: \xff\xfe\r\n\r\nx",
                                 b"Content-Type: multipart/mixed; boundary=z\r\n\r\n--z--\r\n",
                                 b"Content-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\nbody"])
def test_meta_round_trips(raw: bytes) -> None:
    meta = compute_meta(raw)
    assert decode_meta(encode_meta(meta)) == meta
    with pytest.raises(ValueError):
        decode_meta(b"M1\x00\x00\x00\x05[1,2]")
    with pytest.raises(ValueError):
        decode_meta(b"XX")


def test_quoted_printable_follows_rfc2045() -> None:
    body = (b"hello  \r\nbar=\r\n\r\nfoo\t=\r\nbar\r\nfoo\t \t= \r\n=62\r\nfoo = \t\r\nbar\r\n"
            b"foo =\r\n=62\r\nfoo  \r\nbar=\r\n\r\nfoo_bar\r\n")
    assert quoted_printable(body) == (b"hello\r\nbar\r\nfoo\tbar\r\nfoo\t \tb\r\nfoo bar\r\n"
                                      b"foo b\r\nfoo\r\nbar\r\nfoo_bar\r\n")
    assert quoted_printable(b"=E9t=e9 =ZZ") == b"\xe9t\xe9 =ZZ"


def test_folded_boundary_parameter() -> None:
    msg = (b"Content-Type: multipart/mixed; boundary=\"foo\r\n bar\"\r\n\r\n"
           b"--foo bar\r\n\r\none\r\n--foo bar\r\n\r\ntwo\r\n--foo bar--\r\n")
    root = parse_message(msg)
    assert root.boundary == "foo bar" and [c.body for c in root.children] == [b"one", b"two"]


def test_binary_append_stores_nul_parts_as_base64() -> None:
    msg = (b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nhi\r\n--b\r\n"
           b"Content-Transfer-Encoding: binary\r\nX-Keep: 1\r\n\r\n\x00\x01\r\n--b--\r\n")
    stored = without_nul(msg)
    assert b"\x00" not in stored and b"X-Keep: 1\r\nContent-Transfer-Encoding: base64" in stored
    assert binary_bytes(parse_message(stored), (2,)) == b"\x00\x01"
    assert without_nul(b"Subject: x\r\n\r\nplain") == b"Subject: x\r\n\r\nplain"
    with pytest.raises(CommandNo):
        without_nul(b"Subject: \x00\r\n\r\nbody")
