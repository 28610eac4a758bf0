"""Two operators on one machine, each its own `mss serve` process, set up with the
`mss` verbs only (the README's "two operators on one machine"): mail crosses in
both directions through the MX ports, waits while the peer is stopped, and is
delivered once after restarts.

Ref: R4; RFC 5321 6.1; acceptance cases 1 and 2 of the exchange between operators.
"""

from __future__ import annotations

import asyncio
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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.exchange_support import DOMAIN_A, DOMAIN_B, Pki, free_port, standard_trust_list
from tests.integration.helpers import strip_trace
from tests.protocol.smtp_client import simple_message
from tests.support import create_pg_database, drop_pg_database, is_postgres

MSS = [sys.executable, "-m", "server.cli"]
PASSWORD = "a long enough password"
ALICE, BOB = f"alice@{DOMAIN_A}", f"bob@{DOMAIN_B}"


@dataclass
class Proc:
    directory: Path
    mx_port: int
    pg_name: str | None = None
    proc: subprocess.Popen[str] | None = None
    ports: dict[str, int] = field(default_factory=dict)
    url: str | None = None
    others: list[subprocess.Popen[str]] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "MSS_CONFIG": str(self.directory / "mss.toml")}

    @property
    def ca(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.directory / "certs" / "ca.pem"))

    def mss(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([*MSS, *args], input=stdin, text=True, env=self.env,
                              capture_output=True, timeout=120)

    @property
    def log(self) -> Path:
        """The server's stderr (a file: a pipe nobody reads would fill and block it)."""
        return self.directory / "serve.log"

    def serve(self, config: Path | None = None) -> subprocess.Popen[str]:
        env = {**self.env, **({"MSS_CONFIG": str(config)} if config else {})}
        with self.log.open("a") as log:
            proc = subprocess.Popen([*MSS, "serve"], env=env, stdout=subprocess.PIPE,
                                    stderr=log, text=True)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.match(r"mss: serving (\{.*\})", line)
        assert match, line + self.log.read_text()[-3000:]
        if config is not None:
            self.others.append(proc)
            return proc
        self.proc = proc
        self.ports = json.loads(match.group(1).replace("'", '"'))
        assert self.ports["smtp"] == self.mx_port
        return proc

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            assert self.proc.wait(timeout=60) == 0
            err = self.log.read_text()
            assert "Traceback" not in err and " ERROR " not in err, err[-2000:]
        self.proc = None

    def queue(self) -> list[dict[str, object]]:
        done = self.mss("--json", "queue", "list")
        assert done.returncode == 0, done.stderr
        return [json.loads(line) for line in done.stdout.splitlines()]


def _init(root: Path, pki: Pki, domain: str, mx_port: int, peer: str, peer_port: int,
          url: str | None) -> Proc:
    directory = root / domain
    args = ["init", "--dir", str(directory), "--domain", domain, "--hostname", "localhost",
            "--ca-cert", str(pki.ca_cert), "--ca-key", str(pki.ca_key)]
    if url:
        args += ["--database-url", url]
    done = subprocess.run([*MSS, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"CN=localhost,O=mss-server {domain},C=FR" in done.stdout
    path = directory / "mss.toml"
    text = re.sub(r"(?m)^port = \d+$", "port = 0", path.read_text())
    start = text.index("[listeners.smtp]")
    end = text.index("port = 0", start)
    text = text[:end] + f"port = {mx_port}" + text[end + len("port = 0"):]
    text = text.replace("[relay]\ntransport = {}\n", f'[relay]\ntransport = {{ "{peer}" = '
                        f'"127.0.0.1:{peer_port}" }}\nretry_base = 1\nretry_max = 2\n')
    # One worker per `mss serve`: the relay's audit names the sending process by its id,
    # and the two-process test counts the `mss serve` processes that sent.
    text = text.replace("[server]\n", "[server]\nworkers = 1\n", 1)
    path.write_text(text)
    return Proc(directory, mx_port)


@pytest.fixture
def operators(tmp_path: Path) -> Iterator[tuple[Proc, Proc]]:
    pki = Pki.create(tmp_path / "pki")
    port_a, port_b = free_port(), free_port()
    made: list[Proc] = []
    try:
        for domain, port, peer, peer_port, user in ((DOMAIN_A, port_a, DOMAIN_B, port_b, ALICE),
                                                    (DOMAIN_B, port_b, DOMAIN_A, port_a, BOB)):
            url, pg_name = (asyncio.run(create_pg_database()) if is_postgres()
                            else (None, None))
            op = _init(tmp_path, pki, domain, port, peer, peer_port, url)
            op.pg_name, op.url = pg_name, url
            made.append(op)
            trust = tmp_path / "liste-blanche.xml"
            trust.write_bytes(standard_trust_list())
            assert op.mss("trustlist", "import", str(trust)).returncode == 0
            added = op.mss("bal", "add", user, "--type", "PER", "--rpps", "10000000001",
                           "--password-stdin", stdin=PASSWORD)
            assert added.returncode == 0, added.stderr
        yield made[0], made[1]
    finally:
        for op in made:
            for proc in [op.proc, *op.others]:
                if proc is not None and proc.poll() is None:
                    proc.kill()
                    proc.wait()
            if op.pg_name:
                asyncio.run(drop_pg_database(op.pg_name))


def _send(op: Proc, sender: str, rcpt: str, message: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", op.ports["submission"], timeout=20) as c:
        c.starttls(context=op.ca)
        c.login(sender, PASSWORD)
        c.sendmail(sender, [rcpt], message)


def _inbox(op: Proc, user: str) -> list[bytes]:
    client = imaplib.IMAP4_SSL("127.0.0.1", op.ports["imaps"], ssl_context=op.ca, timeout=20)
    try:
        client.login(user, PASSWORD)
        client.select("INBOX")
        _typ, data = client.uid("SEARCH", "ALL")
        found = []
        for uid in data[0].split():
            _typ, resp = client.uid("FETCH", uid, "(BODY.PEEK[])")
            found.append(resp[0][1])
        return found
    finally:
        client.logout()


def _wait(check, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def test_two_serve_processes_exchange_mail_both_ways(operators: tuple[Proc, Proc]) -> None:
    a, b = operators
    a.serve()
    b.serve()
    there = simple_message(ALICE, BOB, subject="A to B")
    back = simple_message(BOB, ALICE, subject="B to A").replace(b"test-1@", b"test-2@")
    _send(a, ALICE, BOB, there)
    _send(b, BOB, ALICE, back)
    for op, user, sent in ((b, BOB, there), (a, ALICE, back)):
        got = _wait(lambda op=op, user=user: _inbox(op, user))
        assert len(got) == 1
        names, original = strip_trace(got[0])
        assert original == sent and names == [b"Return-Path", b"Received",
                                              b"Authentication-Results", b"Received"]
    _wait(lambda: a.queue() == [] and b.queue() == [])
    a.stop()
    b.stop()


def test_message_waits_for_a_stopped_peer_and_survives_a_restart(
        operators: tuple[Proc, Proc]) -> None:
    a, b = operators
    a.serve()
    _send(a, ALICE, BOB, simple_message(ALICE, BOB, subject="first"))
    _wait(lambda: [r for r in a.queue() if int(r["attempts"]) >= 2])  # B not there yet
    b.serve()
    _wait(lambda: len(_inbox(b, BOB)) == 1)
    _wait(lambda: a.queue() == [])
    b.stop()
    _send(a, ALICE, BOB, simple_message(ALICE, BOB, subject="second"))
    _wait(lambda: [r for r in a.queue() if int(r["attempts"]) >= 1])
    a.stop()  # A restarted while the message waits
    b.serve()
    a.serve()
    _wait(lambda: len(_inbox(b, BOB)) == 2)
    _wait(lambda: a.queue() == [])
    time.sleep(3)  # beyond the next backoff: nothing is sent twice
    subjects = sorted(re.search(rb"Subject: (\w+)", m).group(1)  # type: ignore[union-attr]
                      for m in _inbox(b, BOB))
    assert subjects == [b"first", b"second"]
    a.stop()
    b.stop()


QUEUED = 1000


def _fill(op: Proc, count: int) -> None:
    """`count` messages from alice to bob, in one submission session."""
    with smtplib.SMTP("127.0.0.1", op.ports["submission"], timeout=60) as c:
        c.starttls(context=op.ca)
        c.login(ALICE, PASSWORD)
        for i in range(count):
            msg = simple_message(ALICE, BOB, subject=f"n{i}").replace(
                b"<test-1@client.test>", f"<q{i}@client.test>".encode())
            c.sendmail(ALICE, [BOB], msg)


def _second_config(op: Proc) -> Path:
    """The configuration of another `mss serve` of the same operator (same database):
    its own listener ports, no MX (one port per host), the same queue."""
    text = (op.directory / "mss.toml").read_text()
    start = text.index("[listeners.smtp]")
    end = text.index(f"port = {op.mx_port}", start)
    text = text[:end] + "enabled = false\nport = 0" + text[end + len(f"port = {op.mx_port}"):]
    (op.directory / "mss-2.toml").write_text(text)
    return op.directory / "mss-2.toml"


@pytest.mark.skipif(not is_postgres(), reason="several mss serve processes share one "
                    "PostgreSQL; SQLite is one process")
def test_two_processes_on_one_postgresql_send_each_row_once(
        operators: tuple[Proc, Proc]) -> None:
    a, b = operators
    for op in (a, b):  # tried once while B is away, then left waiting until `queue retry`
        path = op.directory / "mss.toml"
        path.write_text(path.read_text().replace("retry_base = 1\nretry_max = 2\n",
                                                 "retry_base = 3600\nretry_max = 3600\n"))
    a.serve()
    _fill(a, QUEUED)  # B is not running: everything waits
    _wait(lambda: all(int(r["attempts"]) >= 1 for r in a.queue()) and len(a.queue()) == QUEUED,
          timeout=300)
    a.stop()
    b.serve()
    assert a.mss("queue", "retry").returncode == 0  # all due now
    twin = a.serve(_second_config(a))
    a.serve()
    _wait(lambda: a.queue() == [], timeout=600)
    client = imaplib.IMAP4_SSL("127.0.0.1", b.ports["imaps"], ssl_context=b.ca, timeout=60)
    try:
        client.login(BOB, PASSWORD)
        client.select("INBOX")
        _typ, data = client.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    finally:
        client.logout()
    ids = [re.search(rb"<(q\d+)@", part[1]).group(1)  # type: ignore[union-attr]
           for part in data if isinstance(part, tuple)]
    assert len(ids) == QUEUED and len(set(ids)) == QUEUED
    a.stop()
    twin.send_signal(signal.SIGTERM)
    assert twin.wait(timeout=60) == 0
    b.stop()
    log = a.log.read_text()
    assert "Traceback" not in log and " ERROR " not in log, log[-2000:]
    assert a.url is not None
    delivered = asyncio.run(_delivered(a.url))
    assert len(delivered) == QUEUED and len({q for q, _ in delivered}) == QUEUED
    assert len({p for _, p in delivered}) == 2  # both processes sent a share


async def _delivered(url: str) -> list[tuple[int, int]]:
    """(queue id, process) of every `relay.delivered` audit record."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT detail FROM audit WHERE event = 'relay.delivered'")
    finally:
        await conn.close()
    details = [json.loads(r["detail"]) for r in rows]
    return [(d["queue_id"], d["process"]) for d in details]
