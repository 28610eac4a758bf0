"""Logging: one line per event to stderr, never message content or secrets.

aiosmtpd logs every command line at INFO (including `AUTH PLAIN <base64>`),
so its `mail.log` logger is held at WARNING whatever the configured level.

Ref: MSS-RULES R24 (content is never logged).
"""

from __future__ import annotations

import logging


def setup_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)
