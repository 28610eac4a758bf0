"""ZIP archives read within bounds, for the content checks of the SMTP gateway.

Owns: `ScanBounds` (how much work a message's attachments may cost), `Budget`
(octets of archive content still allowed to be expanded for one message),
`Entry`, `Listing` and `read_zip(data, bounds, budget, wanted)`.

How an archive is read (stdlib `zipfile`), each step before any expansion:
- more than `max_archive_entries` entries: `archive-entries`;
- an entry flagged encrypted (APPNOTE 4.4.4 general purpose bit 0, set by
  ZipCrypto and by WinZip AES, method 99): `encrypted`, since its content
  cannot be checked;
- the declared sizes of all its entries, added up, above what is left of the
  message's budget: `archive-size` (otherwise they are taken from the budget,
  since any of them may be expanded, here or by oletools for a document);
- an entry whose declared size is more than `max_archive_ratio` times its
  compressed size, once above `RATIO_FLOOR`: `archive-ratio` (a zip bomb);
- then each wanted entry is expanded; `zipfile` stops an entry at its declared
  size, so a size that lies costs nothing more; a read that fails (CRC,
  truncated data, unknown method) is `unreadable`.

Invariants: never raises on any input; never expands more than the budget;
an entry is never expanded beyond its declared size;
entry names are kept for the checks and never logged.

Ref: PKWARE APPNOTE.TXT 4.3.7 (local header), 4.4.4 (general purpose flags),
4.4.5 (compression method); R26.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

RATIO_FLOOR = 1024 * 1024
"""Below this declared size an entry's ratio is not checked (small files compress freely)."""
_ENCRYPTED = 0x1  # APPNOTE 4.4.4: general purpose bit 0, the entry is encrypted
_READ_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError,
                ValueError, NotImplementedError, RuntimeError, KeyError, IndexError)


@dataclass(frozen=True)
class ScanBounds:
    """The bounds of one message's content walk (`[attachments]` in the configuration)."""

    max_parts: int = 1000
    """Files checked in one message: MIME leaves, archive entries, embedded files."""
    max_archive_depth: int = 3
    """Archives inside archives: an attached ZIP is depth 1, a ZIP in it depth 2."""
    max_archive_entries: int = 1000
    max_archive_size: int = 104_857_600
    """Octets all the archives of one message may expand to."""
    max_archive_ratio: int = 100


@dataclass
class Budget:
    """Octets still allowed to be expanded for one message (shared by all its archives)."""

    left: int


@dataclass(frozen=True)
class Entry:
    """One file of an archive: its 1-based position, its name and its expanded octets."""

    index: int
    name: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class Listing:
    """The names of an archive, the entries read, and why reading stopped (or None)."""

    names: tuple[str, ...] = ()
    entries: tuple[Entry, ...] = ()
    problem: str | None = None


def _files(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    return [info for info in archive.infolist() if not info.is_dir()]


class _OverBudget(Exception):
    """An entry expanded beyond what is left of the budget."""


def _bound_problem(infos: list[zipfile.ZipInfo], bounds: ScanBounds,
                   budget: Budget) -> str | None:
    """Why the archive may not be expanded, from its central directory alone."""
    if len(infos) > bounds.max_archive_entries:
        return "archive-entries"
    if any(info.flag_bits & _ENCRYPTED for info in infos):
        return "encrypted"
    if sum(info.file_size for info in infos) > budget.left:
        return "archive-size"
    for info in infos:
        if (info.file_size > RATIO_FLOOR
                and info.file_size > bounds.max_archive_ratio * max(info.compress_size, 1)):
            return "archive-ratio"
    return None


def _expand(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: Budget) -> bytes:
    with archive.open(info) as stream:
        data = stream.read(info.file_size + 1)
    if len(data) > info.file_size:  # zipfile stops at the declared size; kept as a guard
        raise _OverBudget
    return data


Select = Callable[[tuple[str, ...]], Callable[[str], bool]]
"""Given an archive's names, which entries to expand."""


def _everything(names: tuple[str, ...]) -> Callable[[str], bool]:
    return lambda name: True


def _read(archive: zipfile.ZipFile, bounds: ScanBounds, budget: Budget,
          select: Select) -> Listing:
    infos = _files(archive)
    names = tuple(info.filename for info in infos)
    problem = _bound_problem(infos, bounds, budget)
    if problem is not None:
        return Listing(names, (), problem)
    budget.left -= sum(info.file_size for info in infos)
    wanted = select(names)
    entries: list[Entry] = []
    try:
        for index, info in enumerate(infos, 1):
            if wanted(info.filename):
                entries.append(Entry(index, info.filename, _expand(archive, info, budget)))
    except _OverBudget:
        return Listing(names, (), "archive-size")
    except _READ_ERRORS:
        return Listing(names, (), "unreadable")
    return Listing(names, tuple(entries))


def read_zip(data: bytes, bounds: ScanBounds, budget: Budget,
             select: Select = _everything) -> Listing:
    """The archive's names and its selected entries expanded, or the bound it went past.

    The declared sizes of all entries must fit the budget (a reader of the
    archive, such as oletools for a document, may expand any of them).
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return _read(archive, bounds, budget, select)
    except _READ_ERRORS:
        return Listing((), (), "unreadable")
