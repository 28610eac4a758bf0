"""Process settings that keep the event loop responsive while large messages are handled.

Owns: `tune_process()`, applied once when the server starts: the C
allocator's thresholds (glibc `mallopt`), the interpreter's thread switch
interval and asyncio's TLS read buffer; and `freeze_startup_heap()`, once the
listeners are up.

Why: a 25 MB message is copied a few times while it is stored (the trace
headers prepended, the sealed blob assembled, the database driver's copy of
the bound value). Each copy is one C call that holds the GIL; the event loop
waits for it. With glibc's defaults an allocation of more than 128 KiB in a
worker thread is served by fresh `mmap` pages and returned to the system at
`free`, so every such copy also takes about 6,400 page faults (25 MB / 4 KiB):
15 to 25 ms instead of about 2 ms on memory the process already holds
(`bench/loop_stall.py`, `bench/README.md`). So:

- `M_MMAP_THRESHOLD` at glibc's maximum (32 MiB on 64-bit) and one arena for
  every thread (`M_ARENA_MAX`): a message copy comes from the heap and reuses
  the memory of the previous one;
- `M_TRIM_THRESHOLD` at 512 MiB: freed heap memory is kept for the next
  message rather than returned and faulted in again. The price is resident
  memory: the heap stays at its high-water mark, at most about 512 MiB above
  what is in use;
- `sys.setswitchinterval(0.001)`: a thread waiting for the GIL (the event
  loop, while a worker thread seals a message) asks for it after 1 ms
  instead of 5 ms;
- asyncio's TLS protocol reads into a buffer of `SSLProtocol.max_size`
  bytes that every TLS connection allocates (256 KiB by default: about
  250 MB for 1,000 idle IMAPS connections); 64 KiB still holds four full
  TLS records (RFC 8446 5.1: at most 16 KiB of plaintext each). A private
  attribute of CPython's `asyncio.sslproto`: `tests/unit/test_runtime_tuning.py`
  checks that a connection made after tuning uses the smaller buffer.

And the garbage collector: a full collection walks every object the process
holds, about 145,000 once the server has started (modules, classes,
configuration, SQLAlchemy's mappings), which takes 35 to 47 ms on the event
loop whenever the collector decides on one. `freeze_startup_heap()`
collects once, then moves every surviving object to the collector's
permanent generation (`gc.freeze`), so later collections walk only what the
server allocated since: a full collection then takes well under 1 ms.

Invariants: applied at most once per process (the heap is frozen at the first
start only, so a process that starts servers repeatedly, as the tests do,
never keeps the garbage of a stopped one out of the collector's reach); on a C library without
`mallopt` (musl, macOS) only the switch interval is set, and the server runs
the same, with longer stalls.

Ref: docs/architecture.md "Conventions" 13; glibc mallopt(3).
"""

from __future__ import annotations

import asyncio.sslproto
import ctypes
import ctypes.util
import gc
import logging
import sys
from dataclasses import dataclass

log = logging.getLogger("mss.server")

# glibc <malloc.h> parameter numbers (mallopt(3)).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's maximum on 64-bit (HEAP_MAX_SIZE / 2)
TRIM_THRESHOLD = 512 * 1024 * 1024
SWITCH_INTERVAL = 0.001
TLS_READ_BUFFER = 64 * 1024


@dataclass(frozen=True)
class Tuning:
    """What `tune_process` could set."""

    allocator: bool
    switch_interval: float
    tls_read_buffer: int


_applied: Tuning | None = None


def _mallopt(settings: tuple[tuple[int, int], ...]) -> bool:
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    libc = ctypes.CDLL(name)
    fn = getattr(libc, "mallopt", None)
    if fn is None:
        return False
    return all(fn(param, value) == 1 for param, value in settings)


def tune_process() -> Tuning:
    """Apply the settings of the module docstring once; returns what took effect."""
    global _applied
    if _applied is None:
        allocator = _mallopt(((M_MMAP_THRESHOLD, MMAP_THRESHOLD),
                              (M_TRIM_THRESHOLD, TRIM_THRESHOLD), (M_ARENA_MAX, 1)))
        if not allocator:
            log.info("allocator thresholds not set (no glibc mallopt)")
        sys.setswitchinterval(SWITCH_INTERVAL)
        asyncio.sslproto.SSLProtocol.max_size = TLS_READ_BUFFER
        _applied = Tuning(allocator, sys.getswitchinterval(),
                          asyncio.sslproto.SSLProtocol.max_size)
    return _applied


_frozen = False


def freeze_startup_heap() -> int:
    """Collect, then freeze what survives (once per process); the objects frozen."""
    global _frozen
    if not _frozen:
        gc.collect()
        gc.freeze()
        _frozen = True
    return gc.get_freeze_count()
