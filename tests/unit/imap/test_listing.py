"""LIST and LSUB responses: virtual parents listed \\Noselect, special use, the
LSUB `%` rule of RFC 3501 6.3.9."""

from imap_store.imap.listing import list_responses, lsub_responses
from tests.unit.imap.fake_backend import Folder


def folder(name: str, special: str | None = None) -> Folder:
    return Folder(1, 1, name, 1, 1, special, True, 1)


FOLDERS = [folder("INBOX"), folder("Sent", "\\Sent"), folder("a/b/c"), folder("a/b/d"),
           folder("x"), folder("x/y")]


def rendered(responses: list) -> list[bytes]:
    return [r.render().rstrip(b"\r\n") for r in responses]


def test_list_shows_levels_without_folder_as_noselect() -> None:
    assert rendered(list_responses(FOLDERS, "", "%")) == [
        b'* LIST (\\HasNoChildren) "/" "INBOX"', b'* LIST (\\HasNoChildren \\Sent) "/" "Sent"',
        b'* LIST (\\Noselect \\HasChildren) "/" "a"', b'* LIST (\\HasChildren) "/" "x"']
    assert rendered(list_responses(FOLDERS, "a/", "%")) == [
        b'* LIST (\\Noselect \\HasChildren) "/" "a/b"']
    assert len(list_responses(FOLDERS, "", "*")) == 8
    assert rendered(list_responses(FOLDERS, "", "inbox")) == [
        b'* LIST (\\HasNoChildren) "/" "INBOX"']
    assert rendered(list_responses(FOLDERS, "x/", "")) == [b'* LIST (\\Noselect) "/" "x/"']


def test_lsub_percent_reports_unsubscribed_parents_as_noselect() -> None:
    subscribed = ["INBOX", "a/b/c", "gone/old", "x"]
    assert rendered(lsub_responses(subscribed, FOLDERS, "", "%")) == [
        b'* LSUB () "/" "INBOX"', b'* LSUB (\\Noselect) "/" "a"', b'* LSUB (\\Noselect) "/" "gone"',
        b'* LSUB () "/" "x"']
    assert rendered(lsub_responses(subscribed, FOLDERS, "", "*")) == [
        b'* LSUB () "/" "INBOX"', b'* LSUB () "/" "a/b/c"', b'* LSUB (\\Noselect) "/" "gone/old"',
        b'* LSUB () "/" "x"']
