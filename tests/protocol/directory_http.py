"""Helpers for the HTTP and directory tests: operators with the HTTP listener in
TLS or plain mode, the sample directory imported, and a small `http.client`
wrapper (real client, run in worker threads)."""

from __future__ import annotations

import base64
import http.client
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from directory.local_entries import LOCAL_ENTRIES
from directory.service import Directory, ImportReport
from imap_store.store.publication import set_published
from server import config as config_mod
from tests.support import FIXTURES, Operator, make_operator, serving

SAMPLE = FIXTURES / "annuaire-extraction-sample.txt"
SAMPLE_LINES = 301
_LINES = SAMPLE.read_bytes().splitlines(keepends=True)
HEADER_ROWS = (_LINES[0], _LINES[1:])


@asynccontextmanager
async def http_operator(tmp_path: Path, *, tls: bool = True,
                        extra_toml: str = "") -> AsyncIterator[Operator]:
    """A running operator; `tls=False` serves the HTTP listener in clear."""
    op = await make_operator(tmp_path, extra_toml=extra_toml)
    if not tls:
        path = op.directory / "mss.toml"
        text = re.sub(r"(\[listeners\.http\][^\[]*?)tls = true", r"\1tls = false",
                      path.read_text())
        path.write_text(text)
        op.cfg = config_mod.load(path)
    async with serving(op) as running:
        yield running


def directory(op: Operator) -> Directory:
    assert op.running is not None
    return Directory(op.running.services.db)


async def import_file(op: Operator, path: Path = SAMPLE, **kwargs: object) -> ImportReport:
    with path.open("rb") as fh:
        return await directory(op).import_lines(fh, str(path), cleanup_grace=0, **kwargs)


async def publish(op: Operator, address: str, published: bool = True,
                  reason: str = "test") -> bool:
    assert op.running is not None
    async with op.running.services.db.write() as s:
        return await set_published(s, op.bals[address].bal_id, published, reason,
                                   datetime.now(UTC), LOCAL_ENTRIES)


def basic(login: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()


def connect(op: Operator, *, tls: bool = True, timeout: float = 20) -> http.client.HTTPConnection:
    port = op.ports["http"]
    if tls:
        return http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout,
                                           context=op.client_context())
    return http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)


def request(conn: http.client.HTTPConnection, method: str, path: str,
            headers: dict[str, str] | None = None,
            body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    """One request on a (kept-alive) connection: status, lower-cased headers, body."""
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
