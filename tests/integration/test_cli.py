"""The `mss` command's contract: exit codes, messages, refusals.

Ref: docs/architecture.md "Contracts" (the `mss` command, exit codes).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

MSS = [sys.executable, "-m", "server.cli"]


def mss(*args: str, cwd: Path, env: dict[str, str] | None = None,
        stdin: str = "") -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "MSS_CONFIG"}
    return subprocess.run([*MSS, *args], cwd=cwd, env={**base, **(env or {})}, input=stdin,
                          capture_output=True, text=True, timeout=120)


def tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        h.update(str(p.relative_to(root)).encode())
        if p.is_file():
            h.update(p.read_bytes())
            h.update(oct(p.stat().st_mode).encode())
    return h.hexdigest()


@pytest.fixture(scope="module")
def opdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    done = mss("init", "--dir", str(root / "op"), "--domain", "op-a.mssante.fr",
               "--hostname", "mail.op-a.mssante.fr", cwd=root)
    assert done.returncode == 0, done.stderr
    assert "CN=mail.op-a.mssante.fr" in done.stdout
    assert f"export MSS_CONFIG={root / 'op' / 'mss.toml'}" in done.stdout
    return root / "op"


def test_init_layout_and_modes(opdir: Path) -> None:
    cfg = (opdir / "mss.toml").read_text()
    for name in ("smtp", "submission", "submissions", "imap", "imaps", "http"):
        assert f"[listeners.{name}]" in cfg
    for secret in ("keys/kek", "certs/server.key", "certs/ca.key"):
        assert (opdir / secret).stat().st_mode & 0o777 == 0o600
    assert (opdir / "data" / "mss.sqlite3").exists()


def test_init_refuses_existing_directory_and_changes_nothing(opdir: Path) -> None:
    before = tree_digest(opdir)
    done = mss("init", "--dir", str(opdir), "--domain", "other.mssante.fr", cwd=opdir.parent)
    assert done.returncode == 1
    assert done.stderr.startswith("mss: error:") and "--force" in done.stderr
    assert tree_digest(opdir) == before


def test_admin_verb_without_config_exits_2_naming_paths(tmp_path: Path) -> None:
    done = mss("bal", "list", cwd=tmp_path)
    assert done.returncode == 2
    assert "mss.toml" in done.stderr and "/etc/mss/mss.toml" in done.stderr


def test_unknown_config_key_names_it(opdir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "mss.toml"
    bad.write_text((opdir / "mss.toml").read_text().replace("[server]", "[server]\nhostnam = 1"))
    done = mss("--config", str(bad), "bal", "list", cwd=tmp_path)
    assert done.returncode == 2
    assert "server.hostnam" in done.stderr


def test_bad_config_value_names_key(opdir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "mss.toml"
    text = (opdir / "mss.toml").read_text().replace('port = 993', 'port = "993"')
    bad.write_text(text)
    done = mss("--config", str(bad), "bal", "list", cwd=tmp_path)
    assert done.returncode == 2 and "listeners.imaps.port" in done.stderr


@pytest.mark.parametrize(("args", "field"), [
    (["dr.a@op-a.mssante.fr", "--type", "PER"], "rpps"),
    (["dr.a@op-a.mssante.fr", "--type", "PER", "--rpps", "123"], "rpps"),
    (["cardio@op-a.mssante.fr", "--type", "ORG"], "structure-id"),
    (["lps@op-a.mssante.fr", "--type", "APP"], "structure-id"),
    (["dr.a@elsewhere.mssante.fr", "--type", "PER", "--rpps", "10000000001"], "address"),
])
def test_bal_add_refusals_name_the_field(opdir: Path, args: list[str], field: str) -> None:
    done = mss("--config", str(opdir / "mss.toml"), "bal", "add", *args, "--password-stdin",
               cwd=opdir, stdin="a long enough password\n")
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith(f"mss: error: {field}")


def test_bal_lifecycle_via_cli(opdir: Path) -> None:
    env = {"MSS_CONFIG": str(opdir / "mss.toml")}
    add = mss("bal", "add", "Dr.B@op-a.mssante.fr", "--type", "PER", "--rpps", "10000000002",
              "--password-stdin", cwd=opdir.parent, env=env, stdin="a long enough password\n")
    assert add.returncode == 0, add.stderr
    again = mss("bal", "add", "dr.b@op-a.mssante.fr", "--type", "ORG", "--structure-id", "X",
                "--password-stdin", cwd=opdir.parent, env=env, stdin="a long enough password\n")
    assert again.returncode == 1 and "already exists" in again.stderr
    listed = mss("--json", "bal", "list", cwd=opdir.parent, env=env)
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["address"], r["bal_type"]) for r in rows] == [("dr.b@op-a.mssante.fr", "PER")]
    show = mss("--json", "bal", "show", "dr.b@op-a.mssante.fr", cwd=opdir.parent, env=env)
    assert json.loads(show.stdout)["rpps"] == "10000000002"
    pw = mss("bal", "passwd", "dr.b@op-a.mssante.fr", "--password-stdin", cwd=opdir.parent,
             env=env, stdin="short\n")
    assert pw.returncode == 1 and "password" in pw.stderr
    gone = mss("bal", "delete", "dr.b@op-a.mssante.fr", cwd=opdir.parent, env=env)
    assert gone.returncode == 0
    missing = mss("bal", "show", "dr.b@op-a.mssante.fr", cwd=opdir.parent, env=env)
    assert missing.returncode == 1
