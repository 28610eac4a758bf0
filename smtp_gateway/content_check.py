"""The content facts of a message at end of DATA: its files (off the loop) and the antivirus answer.

Owns: `ContentInspection`, the gateway's `[attachments]` and `[antivirus]`
settings (the walk's bounds, the attachment policy, the ClamAV scanner), and
the two look-ups the pure rules may not do: `files(content)` walks the message
(`message.content_facts`) and `scan(content)` asks clamd.

Invariants: the walk runs in a worker thread when the message is larger than
`offload.ON_LOOP_MAX` or may hold an archive or an OLE file
(`content_facts.may_expand`: a small ZIP can expand to `max_archive_size`
octets), so no loop step is proportional to a message or to what it expands
to; the gateway skips the walk when the `attachments` rule is off and the scan
when the `antivirus` rule is off or no daemon is configured.

Ref: R26; docs/architecture.md "Conventions" 1, 13.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from imap_store.store.offload import ON_LOOP_MAX, off_loop
from message.archives import ScanBounds
from message.content_facts import ContentFacts, may_expand, scan_content
from message.mime_tree import MimePart
from policy.content import AttachmentPolicy

from .antivirus import ClamdScanner, ScanResult


@dataclass(frozen=True)
class ContentInspection:
    """How the gateway inspects message content (rebuilt on configuration reload)."""

    bounds: ScanBounds = field(default_factory=ScanBounds)
    policy: AttachmentPolicy = field(default_factory=AttachmentPolicy)
    scanner: ClamdScanner | None = None

    async def files(self, content: bytes, root: MimePart | None = None) -> ContentFacts:
        """The message's files; in a worker thread when the walk may be long. `root`: the
        message as already parsed, walked (on the loop or in the thread) and not parsed
        again; the walk caches no body copy on it (`scan_content`)."""
        if len(content) <= ON_LOOP_MAX and not may_expand(content):
            return scan_content(content, self.bounds, root)
        return await off_loop(scan_content, content, self.bounds, root)

    async def scan(self, content: bytes) -> ScanResult | None:
        """The antivirus answer, or None when no daemon is configured."""
        if self.scanner is None:
            return None
        return await self.scanner.scan(content)
