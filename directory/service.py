"""The directory: the Annuaire Santé extraction imported in versions, searched
together with the local published BALs.

This module is the facade the composition root uses; the work is done in
`extraction` (the file layout), `parse` (parsing in workers), `importer`
(staging and switch), `search` (ranked search with homonyms),
`local_entries` (our published BALs) and `imap_store.store.publication`
(publication state and the outbox).

Invariants (see each module): a running server keeps answering searches
during an import, which switches versions in one short transaction; a BAL on
liste rouge is never shown; every line of an imported file is accounted for.

Ref: R12, R13, R14; docs/rules.md "The directory file".
"""

from __future__ import annotations

from collections.abc import Iterable

from .extraction import ExtractionError
from .importer import (
    DirectoryImporter,
    DirectoryImportError,
    ImportReport,
    Progress,
    purge_retired,
)
from .local_entries import sync_local_entries
from .search import (
    ActiveVersion,
    DirectoryResult,
    DirectorySearch,
    QueryError,
    SearchAnswer,
)

__all__ = [
    "ActiveVersion",
    "Directory",
    "DirectoryImportError",
    "DirectoryResult",
    "ExtractionError",
    "ImportReport",
    "QueryError",
    "SearchAnswer",
]


class Directory(DirectorySearch):
    """Search (inherited), import and maintenance of the directory."""

    async def import_lines(self, lines: Iterable[bytes], source: str, *, workers: int = 0,
                           progress: Progress | None = None,
                           cleanup_grace: float = 2.0) -> ImportReport:
        """Import an extraction (raw lines, header first); then refresh local entries."""
        importer = DirectoryImporter(self.db, workers=workers, progress=progress,
                                     cleanup_grace=cleanup_grace)
        report = await importer.run(lines, source)
        await sync_local_entries(self.db)
        return report

    async def purge(self) -> int:
        """Delete superseded versions now (an import also does it after its switch)."""
        return await purge_retired(self.db)

    async def sync_local(self) -> int:
        """Rebuild the local published BALs' entries; returns how many BALs were seen."""
        return await sync_local_entries(self.db)
