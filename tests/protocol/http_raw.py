"""A raw HTTP/1.1 client over a real socket (plain or TLS), for the tests that send
what no well-behaved client sends: pipelined, malformed or partial requests.

Every read has a timeout, so a server that neither answers nor closes fails the
test instead of hanging it."""

from __future__ import annotations

import socket
import time

from tests.support import Operator

TIMEOUT = 5.0


class RawClient:
    """One connection; `response()` reads exactly one response off the stream."""

    def __init__(self, op: Operator, *, tls: bool = False, timeout: float = TIMEOUT) -> None:
        sock = socket.create_connection(("127.0.0.1", op.ports["http"]), timeout=timeout)
        if tls:
            sock = op.client_context().wrap_socket(sock, server_hostname="localhost")
        self.sock, self.buf, self.head = sock, b"", b""

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _more(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buf += chunk

    def response(self, *, head_only: bool = False) -> tuple[int, dict[str, str], bytes]:
        """(status, lower-cased headers, body) of the next response."""
        while b"\r\n\r\n" not in self.buf:
            self._more()
        self.head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = self.head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {k.strip().lower(): v.strip()
                   for k, _, v in (line.partition(":") for line in lines[1:])}
        size = 0 if head_only else int(headers.get("content-length", "0"))
        while len(self.buf) < size:
            self._more()
        body, self.buf = self.buf[:size], self.buf[size:]
        return status, headers, body

    def closed(self) -> bool:
        """True when the server closes with nothing more to read (within the timeout)."""
        try:
            while chunk := self.sock.recv(65536):
                self.buf += chunk
        except ConnectionResetError:
            return not self.buf
        return not self.buf

    def closes_within(self, seconds: float) -> bool:
        """Whether the server closes within `seconds` (False: still open then)."""
        self.sock.settimeout(seconds)
        try:
            return self.closed()
        except TimeoutError:
            return False
        finally:
            self.sock.settimeout(TIMEOUT)


def exchange(op: Operator, data: bytes, *, timeout: float = TIMEOUT
             ) -> tuple[int, dict[str, str], float]:
    """Send `data` on a fresh plain connection: (status, headers, seconds until closed).

    Raises if the server does not answer, or does not close, within `timeout`."""
    started = time.monotonic()
    with RawClient(op, timeout=timeout) as client:
        client.send(data)
        status, headers, _body = client.response()
        assert client.closed(), "the server kept the connection after a refusal"
    return status, headers, time.monotonic() - started
