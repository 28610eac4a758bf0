"""mbsync (Debian `isync`) synchronises a BAL both ways against the real server:
200 messages in several folders, flags changed on both sides, new messages
and a new folder on both sides, a deletion each way; then a further sync
changes nothing, on either side.

Skips only when `mbsync` is missing and CI is not set; under `CI=true` a
missing mbsync fails (docs/architecture.md "Setup": .ci/run installs isync).

Ref: RFC 3501, RFC 4315 (mbsync relies on UIDPLUS).
"""

from __future__ import annotations

import email
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.protocol.imap_support import imaps, in_thread, numbered, seed
from tests.support import PASSWORD, Operator

FOLDERS = {"INBOX": 80, "Archives": 50, "Cardio": 40, "Sent": 20, "Projets/2024": 10}
FLAG_LETTERS = {"D": "\\Draft", "F": "\\Flagged", "R": "\\Answered", "S": "\\Seen"}
State = dict[str, dict[str, frozenset[str]]]


def _mbsync() -> str:
    found = shutil.which("mbsync")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("mbsync is missing under CI=true: install Debian's isync in .ci/run")
        pytest.skip("mbsync (Debian isync) is not installed")
    return found


def _config(op: Operator, user: str, root: Path) -> Path:
    cfg = root / "mbsyncrc"
    (root / "mail").mkdir()
    cfg.write_text(f"""IMAPAccount mss
Host localhost
Port {op.ports["imaps"]}
User {user}
Pass "{PASSWORD}"
SSLType IMAPS
CertificateFile {op.ca_file}

IMAPStore far
Account mss

MaildirStore near
Path {root}/mail/
Inbox {root}/mail/INBOX
SubFolders Verbatim

Channel bal
Far :far:
Near :near:
Patterns *
Create Both
Remove None
Expunge Both
SyncState *
Sync All
""")
    return cfg


async def _sync(binary: str, cfg: Path) -> str:
    def run() -> str:
        done = subprocess.run([binary, "-V", "-c", str(cfg), "-a"], capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout + done.stderr
    return await in_thread(run)


def _local(root: Path) -> State:
    state: State = {}
    base = root / "mail"
    for cur in sorted(base.rglob("cur")):
        folder = str(cur.parent.relative_to(base))
        state[folder] = {}
        for path in list(cur.iterdir()) + list((cur.parent / "new").iterdir()):
            info = path.name.rpartition(":2,")[2] if ":2," in path.name else ""
            if "T" in info:
                continue
            msgid = email.message_from_bytes(path.read_bytes())["Message-ID"]
            state[folder][msgid] = frozenset(FLAG_LETTERS[c] for c in info if c in FLAG_LETTERS)
    return state


def _remote(op: Operator, user: str) -> State:
    client = imaps(op, user)
    state: State = {}
    for line in client.list()[1]:
        if b"\\Noselect" in line:
            continue
        name = line.decode().rsplit(' "/" ', 1)[1].strip('"')
        client.select(f'"{name}"', readonly=True)
        typ, data = client.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        state[name] = {}
        for item in data:
            if isinstance(item, tuple):
                flags = re.search(rb"FLAGS \(([^)]*)\)", item[0]).group(1).decode().split()
                msgid = email.message_from_bytes(item[1])["Message-ID"]
                state[name][msgid] = frozenset(f for f in flags if f != "\\Recent")
    client.logout()
    return state


def _server_changes(op: Operator, user: str) -> None:
    c = imaps(op, user)
    c.select("INBOX")
    c.store("1:5", "+FLAGS", r"(\Flagged)")
    c.store("6:8", "+FLAGS", r"(\Deleted)")
    c.expunge()
    c.append("Cardio", r"(\Seen)", None, numbered(900, "Nouveau serveur"))
    c.select("Archives")
    c.store("1:10", "+FLAGS", r"(\Seen \Answered)")
    c.store("11", "-FLAGS", r"(\Seen)")
    c.logout()


def _by_msgid(folder: Path) -> dict[str, Path]:
    files = [*(folder / "cur").iterdir(), *(folder / "new").iterdir()]
    return {email.message_from_bytes(p.read_bytes())["Message-ID"]: p for p in files}


def _local_changes(root: Path) -> None:
    inbox = _by_msgid(root / "mail" / "INBOX")
    for n in range(40, 45):
        path = inbox[f"<n{n}@op-b>"]
        base, _, info = path.name.partition(":2,")
        flags = "".join(sorted(set(info) | {"S", "F"}))
        path.rename(root / "mail" / "INBOX" / "cur" / f"{base}:2,{flags}")
    _by_msgid(root / "mail" / "Sent")["<n175@op-b>"].unlink()
    for folder, n in (("Archives", 901), ("Local/Notes", 902)):
        new = root / "mail" / folder / "new"
        for sub in ("cur", "new", "tmp"):
            (root / "mail" / folder / sub).mkdir(parents=True, exist_ok=True)
        (new / f"1700000000.{n}.host").write_bytes(numbered(n, "Nouveau local"))


async def test_mbsync_two_way_sync_then_nothing_to_do(operator: Operator, tmp_path: Path) -> None:
    binary = _mbsync()
    bob = await operator.add_bal("bob")
    store, bal_id = operator.running.services.mailbox, operator.bals[bob].bal_id  # type: ignore[union-attr]
    serial = 0
    for folder, count in FOLDERS.items():
        if folder not in ("INBOX", "Sent"):
            await store.create_folder(bal_id, folder)
        flags = [frozenset({"\\Seen"}) if n % 3 else frozenset() for n in range(count)]
        await seed(operator, bob, folder, [numbered(serial + n) for n in range(count)], flags)
        serial += count
    cfg = _config(operator, bob, tmp_path)
    await _sync(binary, cfg)
    assert await in_thread(_remote, operator, bob) == _local(tmp_path)
    assert sum(len(v) for v in _local(tmp_path).values()) == 200

    await in_thread(_server_changes, operator, bob)
    _local_changes(tmp_path)
    second = await _sync(binary, cfg)
    remote, local = await in_thread(_remote, operator, bob), _local(tmp_path)
    assert remote == local
    assert len(remote["INBOX"]) == 77 and len(remote["Sent"]) == 19
    assert len(remote["Archives"]) == 51 and len(remote["Cardio"]) == 41
    assert list(remote["Local/Notes"]) == ["<n902@op-b>"]
    assert remote["Archives"]["<n80@op-b>"] == {"\\Seen", "\\Answered"}
    assert sum("\\Flagged" in f for f in remote["INBOX"].values()) == 10
    assert remote["INBOX"]["<n40@op-b>"] == {"\\Seen", "\\Flagged"}
    assert "<n175@op-b>" not in remote["Sent"] and "<n5@op-b>" not in local["INBOX"]

    files, folders = _files(tmp_path), await _folders(store, bal_id)
    again = await _sync(binary, cfg)
    assert await in_thread(_remote, operator, bob) == remote
    assert _files(tmp_path) == files
    assert await _folders(store, bal_id) == folders
    assert "Creating" in second and "Creating" not in again


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted((root / "mail").rglob("*"))
            if p.is_file()}


async def _folders(store, bal_id: int) -> list[tuple[str, int, int, int]]:  # noqa: ANN001
    """Every folder's name, UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ (moves on any change)."""
    return [(f.name, f.uidvalidity, f.uidnext, f.highestmodseq)
            for f in await store.list_folders(bal_id)]


def test_missing_mbsync_fails_under_ci_and_skips_otherwise(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        _mbsync()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        _mbsync()
