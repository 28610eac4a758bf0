"""`mss serve` as a real process: all four listeners answer, SIGTERM stops cleanly.

Ref: docs/architecture.md "Listeners" (four listeners with real clients); clean stop on
SIGTERM (in-flight work finishes, idle SMTP sessions get 421).
"""

from __future__ import annotations

import imaplib
import json
import os
import re
import signal
import smtplib
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest

from server.initdir import InitOptions, init_directory
from tests.support import set_ports_to_zero

MSS = [sys.executable, "-m", "server.cli"]
PASSWORD = "a long enough password"


@pytest.fixture
def served(tmp_path: Path):
    directory = tmp_path / "op"
    init_directory(InitOptions(directory, "op-a.mssante.fr", hostname="localhost"))
    set_ports_to_zero(directory / "mss.toml")
    env = {**os.environ, "MSS_CONFIG": str(directory / "mss.toml")}
    for who in ("alice", "bob"):
        subprocess.run([*MSS, "bal", "add", f"{who}@op-a.mssante.fr", "--type", "PER", "--rpps",
                        "10000000001", "--password-stdin"], input=PASSWORD, text=True,
                       env=env, check=True, capture_output=True)
    proc = subprocess.Popen([*MSS, "serve"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.env_config = env["MSS_CONFIG"]  # type: ignore[attr-defined]
    line = proc.stdout.readline()
    match = re.match(r"mss: serving (\{.*\})", line)
    assert match, line + proc.stderr.read() if proc.poll() is not None else line
    ports = json.loads(match.group(1).replace("'", '"'))
    ctx = ssl.create_default_context(cafile=str(directory / "certs" / "ca.pem"))
    yield proc, ports, ctx
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_four_listeners_answer_real_clients_then_sigterm(served) -> None:
    proc, ports, ctx = served
    with smtplib.SMTP("127.0.0.1", ports["submission"], timeout=10) as c:
        c.starttls(context=ctx)
        c.login("alice@op-a.mssante.fr", PASSWORD)
    with smtplib.SMTP_SSL("127.0.0.1", ports["submissions"], timeout=10, context=ctx) as c:
        c.login("alice@op-a.mssante.fr", PASSWORD)
    imap = imaplib.IMAP4("127.0.0.1", ports["imap"], timeout=10)
    assert "LOGINDISABLED" in imap.capabilities
    imap.starttls(ssl_context=ctx)
    assert imap.login("bob@op-a.mssante.fr", PASSWORD)[0] == "OK"
    imap.logout()
    imaps = imaplib.IMAP4_SSL("127.0.0.1", ports["imaps"], ssl_context=ctx, timeout=10)
    assert imaps.login("bob@op-a.mssante.fr", PASSWORD)[0] == "OK"
    imaps.logout()

    idle = smtplib.SMTP("127.0.0.1", ports["submission"], timeout=10)
    idle.ehlo("client.test")
    proc.send_signal(signal.SIGTERM)
    code, _ = idle.getreply()
    assert code == 421
    assert proc.wait(timeout=30) == 0
    assert "Traceback" not in proc.stderr.read()
    time.sleep(0)



def _rcpt(ports: dict, ctx: ssl.SSLContext, addr: str) -> int:
    with smtplib.SMTP("127.0.0.1", ports["submission"], timeout=10) as c:
        c.starttls(context=ctx)
        c.login("alice@op-a.mssante.fr", PASSWORD)
        c.mail("alice@op-a.mssante.fr")
        return c.rcpt(addr)[0]


def _wait_for(predicate, seconds: float = 10.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_sighup_reloads_policy_and_keeps_state_on_bad_file(served) -> None:
    proc, ports, ctx = served
    cfg = Path(proc.env_config)
    original = cfg.read_text()
    assert _rcpt(ports, ctx, "x@laposte.net") == 451  # no trust list: remote tempfails
    cfg.write_text(original + '\n[policy]\nsoft_bounce = true\n[policy.modes]\n'
                   'trust_space = "off"\n')
    proc.send_signal(signal.SIGHUP)
    assert _wait_for(lambda: _rcpt(ports, ctx, "x@laposte.net") == 250)
    cfg.write_text(original + "\n[policy.modes]\nno_such_rule = \"warn\"\n")
    proc.send_signal(signal.SIGHUP)
    time.sleep(1.0)
    assert _rcpt(ports, ctx, "x@laposte.net") == 250  # the bad file changed nothing
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert "reload refused" in proc.stderr.read()
