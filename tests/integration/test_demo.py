"""The `make run` helper (`python -m server.demo`), run as `make run` runs it: after
`mss init --dev-ports`, it creates the demo BAL once with a random password in a
0600 file, imports the bundled trust list when none is stored, changes nothing
when run again, and with `--explain` prints how to connect.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

DOMAIN = "demo.mssante.fr"
DEMO = f"demo@{DOMAIN}"


def run(*args: str, cwd: Path, module: str = "server.cli") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MSS_CONFIG"}
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def var(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo")
    done = run("init", "--dir", str(root / "var"), "--domain", DOMAIN, "--hostname",
               "localhost", "--dev-ports", cwd=root)
    assert done.returncode == 0, done.stderr
    return root / "var"


def demo(var: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run("--config", str(var / "mss.toml"), "--address", DEMO.upper(),
               "--password-file", str(var / "demo-password.txt"), *extra,
               cwd=var.parent, module="server.demo")


def mss(var: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run("--config", str(var / "mss.toml"), "--json", *args, cwd=var.parent)


def test_demo_bal_and_trust_list_are_made_once(var: Path) -> None:
    first = demo(var)
    assert first.returncode == 0, first.stderr
    secret = var / "demo-password.txt"
    password = secret.read_text()
    assert len(password) >= 20 and secret.stat().st_mode & 0o777 == 0o600

    shown = mss(var, "bal", "show", DEMO)
    assert shown.returncode == 0, shown.stderr
    bal = json.loads(shown.stdout)
    assert (bal["address"], bal["bal_type"], bal["rpps"]) == (DEMO, "PER", "10000000000")
    trusted = mss(var, "trustlist", "show", "PATIENT.MSSANTE.FR")
    assert trusted.returncode == 0 and json.loads(trusted.stdout)["trusted"] is True
    version = json.loads(trusted.stdout)["version"]

    again = demo(var, "--explain")
    assert again.returncode == 0, again.stderr
    assert secret.read_text() == password
    assert json.loads(mss(var, "trustlist", "show", "patient.mssante.fr").stdout)[
        "version"] == version
    listed = [json.loads(line) for line in mss(var, "bal", "list").stdout.splitlines()]
    assert [row["address"] for row in listed] == [DEMO]
    out = again.stdout
    assert DEMO in out and password in out
    for port in ("2993", "2143", "2465", "2587"):
        assert f"port {port}" in out
    assert str(var / "certs" / "ca.pem") in out


def test_explain_without_the_password_file_says_where_to_set_one(var: Path) -> None:
    assert demo(var).returncode == 0  # the demo BAL exists (made now or by the test above)
    secret = var / "demo-password.txt"
    kept = secret.read_text()
    secret.unlink()
    try:
        done = demo(var, "--explain")
        assert done.returncode == 0, done.stderr
        assert "(see mss bal passwd)" in done.stdout
        assert not secret.exists()  # the BAL exists already: no new password is made
    finally:
        secret.write_text(kept)
        secret.chmod(0o600)
