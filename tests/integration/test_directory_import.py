"""Importing the Annuaire Santé extraction: every line accounted for, versions switched
in one step, failures leave the served directory alone (docs/rules.md "The directory file", R14)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from directory.models import DirectoryEntry, DirectoryPosting, DirectoryVersion
from directory.service import DirectoryImportError, ExtractionError
from tests.protocol.directory_http import SAMPLE, SAMPLE_LINES, directory, import_file
from tests.support import Operator

HEADER, *ROWS = SAMPLE.read_bytes().splitlines(keepends=True)


async def _counts(op: Operator) -> dict[int, int]:
    assert op.running is not None
    async with op.running.services.db.read() as s:
        rows = await s.execute(select(DirectoryEntry.version_id, func.count())
                               .group_by(DirectoryEntry.version_id))
        return dict(rows.all())


async def _states(op: Operator) -> dict[int, str]:
    assert op.running is not None
    async with op.running.services.db.read() as s:
        return dict((await s.execute(select(DirectoryVersion.id, DirectoryVersion.state))).all())


async def test_sample_imports_with_every_line_accounted_for(operator: Operator) -> None:
    report = await import_file(operator)
    assert report.lines == SAMPLE_LINES
    assert (report.imported, report.merged, report.rejected) == (300, 1, 0)
    assert report.imported + report.merged + report.rejected == report.lines
    assert await _counts(operator) == {report.version_id: 300}
    active = await directory(operator).active()
    assert active is not None and active.id == report.version_id
    assert (active.lines, active.imported, active.merged) == (301, 300, 1)
    answer = await directory(operator).search("anais.dubois@pharmacien.mssante.fr")
    assert [r.address for r in answer.results] == ["anais.dubois@pharmacien.mssante.fr"]


async def test_rejected_lines_are_counted_with_their_reasons(operator: Operator,
                                                             tmp_path: Path) -> None:
    bad = [b"PER|broken\n", b"XXX" + ROWS[0][3:], ROWS[1].replace(b"@", b"#"), b"\n",
           ROWS[2].rstrip(b"\n") + b"|extra|\n", "é".encode("latin-1") + ROWS[3]]
    path = tmp_path / "mixed.txt"
    path.write_bytes(HEADER + b"".join(ROWS[10:20]) + b"".join(bad) + ROWS[10])
    report = await import_file(operator, path)
    assert (report.lines, report.imported, report.merged, report.rejected) == (17, 10, 1, 6)
    assert report.reasons == {"expected 31 columns, found 2": 1, "unknown BAL type 'XXX'": 1,
                              "invalid BAL address": 1, "empty line": 1,
                              "expected 31 columns, found 33": 1, "not UTF-8": 1}
    assert [n for n, _ in report.examples] == [12, 13, 14, 15, 16, 17]


async def test_reimport_switches_and_purges_the_old_version(operator: Operator) -> None:
    first = await import_file(operator)
    second = await import_file(operator)
    assert second.previous_version == first.version_id
    states = await _states(operator)
    assert states[first.version_id] == "purged" and states[second.version_id] == "active"
    assert await _counts(operator) == {second.version_id: 300}
    assert operator.running is not None
    async with operator.running.services.db.read() as s:
        versions = (await s.execute(select(DirectoryPosting.version_id).distinct())).scalars()
        assert set(versions) == {second.version_id}


async def test_a_file_of_another_layout_changes_nothing(operator: Operator,
                                                        tmp_path: Path) -> None:
    served = await import_file(operator)
    path = tmp_path / "other.csv"
    path.write_bytes(b"address;name\nx@y.fr;X\n")
    with pytest.raises(ExtractionError, match="header"):
        await import_file(operator, path)
    only_bad = tmp_path / "bad.txt"
    only_bad.write_bytes(HEADER + b"PER|x\n")
    with pytest.raises(DirectoryImportError, match="no valid row"):
        await import_file(operator, only_bad)
    active = await directory(operator).active()
    assert active is not None and active.id == served.version_id
    assert "loading" not in (await _states(operator)).values()


async def test_an_interrupted_import_keeps_serving_the_previous_version(
        operator: Operator) -> None:
    served = await import_file(operator)

    def breaks_midway() -> Iterator[bytes]:
        yield HEADER
        yield from ROWS[:150]
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        await directory(operator).import_lines(breaks_midway(), "broken", cleanup_grace=0)
    active = await directory(operator).active()
    assert active is not None and active.id == served.version_id
    assert len((await directory(operator).search("lefevre")).results) == 7
    await directory(operator).purge()
    assert await _counts(operator) == {served.version_id: 300}


async def test_duplicate_lines_are_merged_and_searchable(operator: Operator,
                                                         tmp_path: Path) -> None:
    first = ROWS[0]
    richer = first.replace(b"|70|Masseur-Kin\xc3\xa9sith\xc3\xa9rapeute|||",
                           b"|70|Masseur-Kin\xc3\xa9sith\xc3\xa9rapeute|X1|Ost\xc3\xa9opathie|")
    path = tmp_path / "dups.txt"
    path.write_bytes(HEADER + first + b"".join(ROWS[1:30]) + richer + first)
    report = await import_file(operator, path)
    assert (report.imported, report.merged) == (30, 2)
    found = (await directory(operator).search("osteopathie")).results
    assert [(r.address, r.specialty) for r in found] == [
        ("jean.dupont@aphp.mssante.fr", "Ostéopathie")]


async def test_parsing_in_worker_processes_gives_the_same_directory(operator: Operator) -> None:
    await import_file(operator, workers=1)
    pooled = [r.address for r in (await directory(operator).search("martin")).results]
    await import_file(operator, workers=0)
    inline = [r.address for r in (await directory(operator).search("martin")).results]
    assert pooled == inline and len(inline) >= 10


async def test_a_newer_import_supersedes_one_still_loading(operator: Operator) -> None:
    release = threading.Event()

    def slow() -> Iterator[bytes]:
        yield HEADER
        yield from ROWS[:100]
        release.wait(30)
        yield from ROWS[100:]

    older = asyncio.create_task(directory(operator).import_lines(slow(), "older",
                                                                 cleanup_grace=0))
    for _ in range(200):
        if "loading" in (await _states(operator)).values():
            break
        await asyncio.sleep(0.02)
    newer = await import_file(operator)
    release.set()
    with pytest.raises(DirectoryImportError, match="superseded"):
        await older
    active = await directory(operator).active()
    assert active is not None and active.id == newer.version_id
