"""Logging: one line per event to stderr, never message content or secrets.

aiosmtpd logs every command line at INFO (including `AUTH PLAIN` lines), so
its `mail.log` logger is held at WARNING whatever the configured level, and
two of its warnings that do not apply here are dropped: "AUTH without TLS"
(our implicit-TLS listener is TLS from the first byte) and the deprecation of
`Session.login_data` (raised by aiosmtpd's own AUTH code).

Ref: R24 (content is never logged).
"""

from __future__ import annotations

import logging

IGNORED_AIOSMTPD = ("auth_required == True but auth_require_tls == False",
                    "Session.login_data is deprecated")


class _DropKnownNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(text in message for text in IGNORED_AIOSMTPD)


def setup_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    mail_log = logging.getLogger("mail.log")
    mail_log.setLevel(logging.WARNING)
    mail_log.addFilter(_DropKnownNoise())
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
