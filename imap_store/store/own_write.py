"""What a session's own write did to its selected folder, so its view catches up
without reading the folder back.

Owns: `OwnWrite`, filled in by `MailboxStore.set_flags`, `expunge` and `append`
for the session that asked, and read once by `MailboxView.refresh` after the
command.

Invariants:
- `before` is the folder's marker `(uidnext, highestmodseq)` as the write found
  it, read in the write's own transaction with the folder's row locked (or, for
  an EXPUNGE with nothing to remove, in the one statement that found nothing);
  when it equals the view's marker, no other write reached the folder between
  the view's last catch-up and this one, in any process (every write moves the
  marker, `mailbox.py`);
- `version` is the BAL's change version right after this write (its own bump
  included, `ChangeNotifier.committed`); the view uses the record only when the
  version moved by this write alone since it last caught up, and has not moved
  since, so a change another session of this process made, or one the folder
  watcher saw from another process, is always read;
- `folder` is the folder as the write left it (None: the write changed nothing),
  `rows` the entries it created or changed, with their new MODSEQ: what reading
  the changes since the view's MODSEQ would have returned.

Ref: RFC 7162 3.1 (MODSEQ: every change raises it), RFC 3501 7.4.1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .mailbox import MessageRow
    from .mailbox_sql import FolderValues


@dataclass
class OwnWrite:
    """The record of one write (empty until the store fills it)."""

    before: tuple[int, int] | None = None
    folder: FolderValues | None = None
    rows: Sequence[MessageRow] = field(default_factory=list)
    version: int | None = None

    def record(self, before: tuple[int, int], folder: FolderValues | None,
               rows: Sequence[MessageRow], version: int) -> None:
        self.before, self.folder, self.rows, self.version = before, folder, rows, version

    def catches_up(self, marker: tuple[int, int], since: int, now: int) -> bool:
        """Whether a view at `marker` and change version `since`, the version being `now`,
        can take this record for a read of the folder's changes."""
        moved = 0 if self.folder is None else 1
        return (self.before == marker and self.version is not None
                and self.version == now == since + moved)
