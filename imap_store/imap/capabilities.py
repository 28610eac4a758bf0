"""The capability list, which depends on TLS and login state.

Invariants: before TLS, `STARTTLS LOGINDISABLED` and no `AUTH=` (R8:
advertise LOGINDISABLED before STARTTLS); after TLS and before login,
`AUTH=PLAIN` and `SASL-IR`, never STARTTLS or LOGINDISABLED; each extension
listed is implemented (UIDPLUS: UID EXPUNGE, APPENDUID, COPYUID).

Ref: RFC 3501 6.1.1, 6.2.1, 7.2.1; RFC 7888 (LITERAL+), RFC 2971 (ID),
RFC 2177 (IDLE), RFC 2342 (NAMESPACE), RFC 3691 (UNSELECT), RFC 4315 (UIDPLUS),
RFC 5161 (ENABLE), RFC 3348 (CHILDREN), RFC 6154 (SPECIAL-USE), RFC 4959 (SASL-IR),
RFC 3502 (MULTIAPPEND), RFC 6851 (MOVE), RFC 3516 (BINARY), RFC 9208 (QUOTA:
GETQUOTA and GETQUOTAROOT; no QUOTASET, limits are set by the operator).
"""

from __future__ import annotations

EXTENSIONS = (
    "LITERAL+",
    "ID",
    "IDLE",
    "NAMESPACE",
    "UNSELECT",
    "UIDPLUS",
    "ENABLE",
    "CHILDREN",
    "SPECIAL-USE",
    "MULTIAPPEND",
    "MOVE",
    "BINARY",
    "QUOTA",
    "QUOTA=RES-STORAGE",
    "QUOTA=RES-MESSAGE",
)


def capabilities(*, tls_active: bool, authenticated: bool) -> tuple[str, ...]:
    """The CAPABILITY list for a connection in this state."""
    if not tls_active:
        return ("IMAP4rev1", "STARTTLS", "LOGINDISABLED", *EXTENSIONS)
    if not authenticated:
        return ("IMAP4rev1", *EXTENSIONS, "SASL-IR", "AUTH=PLAIN")
    return ("IMAP4rev1", *EXTENSIONS)
