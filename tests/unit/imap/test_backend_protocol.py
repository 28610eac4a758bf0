"""The fake backend satisfies the engine's Protocols (checked by mypy too)."""

from imap_store.imap.backend import ImapBackend, MailboxStore
from tests.unit.imap.fake_backend import FakeBackend, make_backend


def test_fake_backend_is_an_imap_backend() -> None:
    backend: ImapBackend = make_backend()
    store: MailboxStore = backend.store
    assert isinstance(backend, FakeBackend)
    assert store.notifier.version(1) == 0
