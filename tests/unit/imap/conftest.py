"""Fixtures: TLS material from trustme, an IMAP server on 127.0.0.1 in a thread."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import trustme

from imap_store.imap.limits import ImapLimits
from imap_store.imap.listener import ImapListener, start_imap_listener
from tests.unit.imap.fake_backend import FakeBackend, make_backend

T = TypeVar("T")


class TlsMaterial:
    def __init__(self, directory: Path) -> None:
        ca = trustme.CA()
        cert = ca.issue_cert("localhost", "127.0.0.1")
        self.ca_file = directory / "ca.pem"
        self.chain_file = directory / "server-chain.pem"
        self.key_file = directory / "server.key"
        ca.cert_pem.write_to_path(str(self.ca_file))
        cert.private_key_pem.write_to_path(str(self.key_file))
        for blob in cert.cert_chain_pems:
            blob.write_to_path(str(self.chain_file), append=True)

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.chain_file, self.key_file)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsMaterial:
    return TlsMaterial(tmp_path_factory.mktemp("imap-tls"))


class ServerThread:
    """Both listeners (STARTTLS and implicit TLS) on their own event loop."""

    def __init__(self, backend: FakeBackend, tls: TlsMaterial, limits: ImapLimits) -> None:
        self.backend = backend
        self.errors: list[dict[str, Any]] = []
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(lambda loop, ctx: self.errors.append(ctx))
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        ctx = tls.server_context()
        self.plain = self.call(self._start(ctx, limits, implicit=False))
        self.implicit = self.call(self._start(ctx, limits, implicit=True))

    async def _start(self, ctx: ssl.SSLContext, limits: ImapLimits, implicit: bool) -> ImapListener:
        return await start_imap_listener(
            host="127.0.0.1", port=0, implicit_tls=implicit, ssl_context=ctx,
            backend=self.backend, limits=limits, hostname="imap.test",
        )

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 10) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @property
    def plain_port(self) -> int:
        return int(self.plain.sockets[0].getsockname()[1])

    @property
    def tls_port(self) -> int:
        return int(self.implicit.sockets[0].getsockname()[1])

    def deliver(self, raw: bytes, folder: str = "INBOX", **kw: Any) -> int:
        return self.call(self.backend.store.deliver(1, folder, raw, **kw))

    def stop(self) -> None:
        self.call(self.plain.shutdown(1.0))
        self.call(self.implicit.shutdown(1.0))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


def start_server(tls: TlsMaterial, limits: ImapLimits | None = None) -> ServerThread:
    return ServerThread(make_backend(), tls, limits or ImapLimits())


@pytest.fixture
def server(tls: TlsMaterial) -> Iterator[ServerThread]:
    srv = start_server(tls)
    yield srv
    srv.stop()
    assert srv.errors == [], srv.errors


class RawClient:
    """A line-oriented IMAP client on a real socket, for exact byte checks."""

    def __init__(self, port: int, tls: TlsMaterial | None = None) -> None:
        self.sock: socket.socket = socket.create_connection(("127.0.0.1", port), timeout=5)
        if tls is not None:
            self.sock = tls.client_context().wrap_socket(self.sock, server_hostname="localhost")
        self.buf = b""
        self.greeting = self.line()

    def starttls(self, tls: TlsMaterial) -> None:
        self.sock = tls.client_context().wrap_socket(self.sock, server_hostname="localhost")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed: " + repr(self.buf))
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def until_tagged(self, tag: bytes) -> list[bytes]:
        lines = []
        while True:
            line = self.line()
            lines.append(line)
            if line.startswith(tag + b" "):
                return lines

    def cmd(self, tag: bytes, text: bytes) -> list[bytes]:
        self.send(tag + b" " + text + b"\r\n")
        return self.until_tagged(tag)

    def login(self, tag: bytes = b"L") -> None:
        assert self.cmd(tag, b"LOGIN alice@op-a.mssante.fr secret")[-1].startswith(tag + b" OK")

    def close(self) -> None:
        self.sock.close()
