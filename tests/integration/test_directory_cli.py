"""`mss directory import|search` as operators run them: reports, exit codes, --json,
a progress bar on a terminal only (docs/architecture.md "Contracts";
docs/rules.md "The directory file")."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_cli import mss
from tests.protocol.directory_http import SAMPLE


@pytest.fixture(scope="module")
def opdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dircli")
    done = mss("init", "--dir", str(root / "op"), "--domain", "op-a.mssante.fr",
               "--hostname", "localhost", cwd=root)
    assert done.returncode == 0, done.stderr
    return root / "op"


def run(opdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return mss("--config", str(opdir / "mss.toml"), *args, cwd=opdir)


def test_import_reports_every_line_and_is_quiet_off_a_terminal(opdir: Path) -> None:
    done = run(opdir, "directory", "import", str(SAMPLE))
    assert done.returncode == 0, done.stderr
    assert "301 lines: 300 imported, 1 merged (duplicate addresses), 0 rejected" in done.stdout
    assert done.stderr == ""
    again = run(opdir, "--json", "directory", "import", str(SAMPLE))
    report = json.loads(again.stdout)
    assert (report["lines"], report["imported"], report["merged"], report["rejected"]) == (
        301, 300, 1, 0)
    assert report["previous_version"] is not None and len(report["sha256"]) == 64


def test_import_refusals_exit_1(opdir: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.txt"
    other.write_text("a|b\n1|2\n")
    for path in (other, tmp_path / "missing.txt"):
        done = run(opdir, "directory", "import", str(path))
        assert done.returncode == 1 and done.stderr.startswith("mss: error:"), done.stderr


def test_search_output_and_exit_codes(opdir: Path) -> None:
    run(opdir, "directory", "import", str(SAMPLE))
    people = run(opdir, "directory", "search", "Martinez Pierre")
    assert people.returncode == 0
    assert people.stdout.count("HOMONYM: 3 persons share this name") == 3
    lines = run(opdir, "--json", "directory", "search", "lefevre", "--limit", "3").stdout
    rows = [json.loads(line) for line in lines.splitlines()]
    assert len(rows) == 3 and all(r["last_name"] == "LEFÈVRE" for r in rows)
    assert run(opdir, "directory", "search", "zzzzqqq").returncode == 1
    empty = run(opdir, "directory", "search", "de")
    assert empty.returncode == 2 and "query" in empty.stderr


def test_progress_bar_on_a_terminal(opdir: Path) -> None:
    parent, child = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "MSS_CONFIG"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "--config", str(opdir / "mss.toml"),
         "directory", "import", str(SAMPLE)], stdout=subprocess.PIPE, stderr=child, env=env)
    os.close(child)
    seen = b""
    while True:
        try:
            chunk = os.read(parent, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    proc.wait(timeout=120)
    os.close(parent)
    assert proc.returncode == 0
    assert b"importing [" in seen and b"100%" in seen
