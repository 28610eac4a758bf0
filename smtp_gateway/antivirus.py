"""The ClamAV client: one message sent to clamd with `zINSTREAM`, its answer read.

Owns: `ScanResult`, `ClamdScanner` and `parse_address`. `[antivirus] clamd`
names the daemon: an absolute path (its Unix socket, `LocalSocket`) or
`host:port` (`TCPSocket`, `[v6]:port` for IPv6).

Protocol (clamd(8), "INSTREAM"): the command `zINSTREAM\\0`, then chunks each
preceded by its length as a 4-octet big-endian integer, then a zero length;
the daemon answers one NUL-terminated line: `stream: OK`, `stream: NAME
FOUND`, or `... ERROR` (`INSTREAM size limit exceeded. ERROR` when the
message is above its `StreamMaxLength`, which must be at least
`limits.max_message_size`).

Why not a client library: the maintained asyncio client on PyPI speaks TCP
only (the default Debian daemon listens on a Unix socket) and reads the
data through a worker thread per 1 KiB chunk; the protocol is the few lines
below.

Invariants: every failure (no daemon, a refused or reset connection, a
timeout over the whole exchange, an answer that is not one of the three, an
answer longer than `MAX_ANSWER`) is `unavailable`, never an exception, so the
rule fails closed; the message is written in `CHUNK` pieces without copying
it; no content and no file name is logged.

Ref: R26; clamd(8) (INSTREAM, z-prefixed commands).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from dataclasses import dataclass

CHUNK = 256 * 1024
MAX_ANSWER = 4096


@dataclass(frozen=True)
class ScanResult:
    """The daemon's verdict: `clean`, `infected` (detail: the signature) or `unavailable`."""

    status: str
    detail: str = ""


def parse_address(value: str) -> tuple[str, int] | str:
    """`/path/to/socket` (returned as is) or `host:port` -> (host, port); ValueError otherwise."""
    if value.startswith("/"):
        return value
    host, sep, port = value.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("expected an absolute socket path or host:port")
    return host, int(port)


def _verdict(answer: bytes) -> ScanResult:
    text = answer.rstrip(b"\0\r\n").decode("utf-8", "replace")
    _, _, status = text.partition(": ")
    if status == "OK":
        return ScanResult("clean")
    if status.endswith(" FOUND"):
        return ScanResult("infected", status.removesuffix(" FOUND"))
    return ScanResult("unavailable", f"clamd answered {text[:200]!r}")


class ClamdScanner:
    """Scans whole messages with one clamd daemon (a new connection per message)."""

    def __init__(self, address: str, timeout: float) -> None:
        self.address = parse_address(address)
        self.timeout = timeout

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if isinstance(self.address, str):
            return await asyncio.open_unix_connection(self.address, limit=MAX_ANSWER)
        host, port = self.address
        return await asyncio.open_connection(host, port, limit=MAX_ANSWER)

    async def _exchange(self, content: bytes) -> bytes:
        reader, writer = await self._open()
        try:
            writer.write(b"zINSTREAM\0")
            view = memoryview(content)
            for start in range(0, len(view), CHUNK):
                piece = view[start:start + CHUNK]
                writer.write(struct.pack("!L", len(piece)))
                writer.write(piece)
                await writer.drain()
            writer.write(struct.pack("!L", 0))
            await writer.drain()
            return await reader.readuntil(b"\0")
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def scan(self, content: bytes) -> ScanResult:
        """The daemon's verdict on `content`; `unavailable` on any failure."""
        try:
            async with asyncio.timeout(self.timeout):
                return _verdict(await self._exchange(content))
        except TimeoutError:
            return ScanResult("unavailable", f"no answer within {self.timeout:g} s")
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            return ScanResult("unavailable", type(exc).__name__)
