"""The process tuning the server applies at start: a large copy in a worker thread reuses memory.

Counted in page faults (`getrusage`), not timed: with glibc's defaults each
25 MB copy in a worker thread faults in about 6,100 fresh pages; once tuned,
the second and later copies fault in none.
"""

from __future__ import annotations

import asyncio
import gc
import os
import resource
import ssl
import sys
import threading
from pathlib import Path

import trustme

from server.runtime_tuning import (
    SWITCH_INTERVAL,
    TLS_READ_BUFFER,
    freeze_startup_heap,
    tune_process,
)

SIZE = 25_000_000


def _faults_of_copies(payload: bytes, copies: int) -> list[int]:
    faults: list[int] = []

    def work() -> None:
        for _ in range(copies):
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            message = b"".join((b"Received: x\r\n", payload))
            faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
            del message

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    return faults


def test_tuning_takes_effect_and_is_applied_once() -> None:
    first = tune_process()
    assert first.allocator, "glibc mallopt refused the thresholds"
    assert first.switch_interval == SWITCH_INTERVAL == sys.getswitchinterval()
    assert tune_process() is first


def test_a_large_copy_in_a_worker_thread_reuses_memory_once_tuned() -> None:
    tune_process()
    payload = os.urandom(SIZE)
    faults = _faults_of_copies(payload, 4)
    # A 25 MB copy on fresh pages faults about SIZE / 4096 = 6,100 times.
    assert max(faults[1:]) < 200, faults


async def test_a_tls_connection_made_after_tuning_reads_into_the_smaller_buffer(
        tmp_path: Path) -> None:
    tune_process()
    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    buffers: list[int] = []

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tls_layer = writer.transport._ssl_protocol  # type: ignore[attr-defined]  # noqa: SLF001
        buffers.append(len(tls_layer._ssl_buffer))  # noqa: SLF001 - the buffer tuned
        writer.write(await reader.readexactly(200_000))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_ctx,
                                                   server_hostname="localhost")
    payload = os.urandom(200_000)
    writer.write(payload)
    assert await reader.readexactly(len(payload)) == payload
    writer.close()
    server.close()
    await server.wait_closed()
    assert buffers == [TLS_READ_BUFFER]


def test_the_startup_heap_is_frozen_once() -> None:
    first = freeze_startup_heap()
    assert first > 0 and gc.get_freeze_count() == first
    assert freeze_startup_heap() == first  # a second start freezes nothing more
