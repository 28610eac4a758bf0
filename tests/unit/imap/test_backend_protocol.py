"""The fake backend satisfies the engine's Protocols, as mypy sees it.

The lint run does not type-check tests/ (`exclude` in pyproject.toml), so this
test runs mypy itself (in a child process), with the project's strict configuration, on this file
and the fake: the assignments in `_as_protocols` type-check only while every
member of `ImapBackend`, `MailboxStore`, `ChangeNotifier` and `AuditSink` is
there with a compatible signature.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from imap_store.imap.backend import ImapBackend, MailboxStore
from imap_store.store.interfaces import AuditSink, Authenticate
from tests.unit.imap import fake_backend
from tests.unit.imap.fake_backend import make_backend

ROOT = Path(__file__).resolve().parents[3]


def _as_protocols() -> tuple[ImapBackend, MailboxStore, AuditSink, Authenticate]:
    backend: ImapBackend = make_backend()
    store: MailboxStore = backend.store
    audit: AuditSink = backend.audit
    authenticate: Authenticate = backend.authenticate
    return backend, store, audit, authenticate


def test_fake_backend_is_an_imap_backend() -> None:
    # In a child process: mypy raises the interpreter's recursion limit for its own run.
    done = subprocess.run([sys.executable, "-m", "mypy", "--config-file",
                           str(ROOT / "pyproject.toml"), "--no-error-summary", __file__,
                           str(fake_backend.__file__)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    backend, store, _, _ = _as_protocols()
    assert store.notifier.version(1) == 0 and backend.store is store
