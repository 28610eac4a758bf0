"""Sender rules for authenticated submission: who may send as which address.

Owns three rules, all of which apply to the submission listener only (on the
MX listener the sending operator answers for its users: they return None):
- `sender_authorised` (MAIL, `check_mail`): no AUTH -> 530 5.7.0; MAIL FROM
  must be a BAL the authenticated person is granted (case-insensitive) or the
  null sender, else 553 5.7.1.
- `null_sender` (DATA, `check_null_sender`): a null MAIL FROM is only for
  reports, `multipart/report` with `report-type` `delivery-status` (DSN) or
  `disposition-notification` (MDN), else 550 5.7.1.
- `from_header` (DATA, `check_from_header`): exactly one From field; a single
  From address must equal the envelope sender (for the null sender: one of the
  granted BALs); several From addresses need one Sender address equal to it.
  A Sender field, when present, must name the envelope sender, a granted BAL
  or the person (an ORG BAL sent by one of its people). Else 550 5.7.1.

Invariants: addresses are compared case-insensitively; the rules never
parse the message: they compare the From and Sender mailboxes the message
parser read once (`DataContext.message`), and a field it could not read
unambiguously (absent, repeated, a group, an encoded-word or anything two
mail programs could read differently, cf. CVE-2023-27043) has no mailboxes
and a `problem`, which is a mismatch here: unclear input fails closed.

Ref: R10 (personal credentials, ORG BALs), R22 (DSN), R23 (MDN),
R24 (traces name the person); RFC 6409 8.1 (submission may check the
sender); RFC 5322 3.6.2 (From, Sender); RFC 3464, RFC 8098 (report types);
RFC 4954 6 (530 5.7.0); RFC 3463 3.8 (X.7.1).
"""

from __future__ import annotations

from .address import normalise_address
from .context import AuthorField, DataContext, MailContext
from .replies import (
    AUTH_REQUIRED,
    FROM_HEADER_MISMATCH,
    NULL_SENDER_NOT_REPORT,
    SENDER_NOT_AUTHORISED,
)
from .verdict import Verdict

NAME = "sender_authorised"
NULL_NAME = "null_sender"
FROM_NAME = "from_header"
REPORT_TYPES = frozenset({"delivery-status", "disposition-notification"})


def check_mail(ctx: MailContext) -> Verdict | None:
    """MAIL on submission: AUTH first, then only a granted BAL or <> as sender."""
    session = ctx.session
    if session.listener != "submission":
        return None
    if not session.authenticated:
        return Verdict.reject(NAME, AUTH_REQUIRED, f"MAIL FROM {ctx.mail_from} without AUTH")
    if not ctx.mail_from or normalise_address(ctx.mail_from) in session.granted_bals:
        return None
    who = session.person or session.authenticated_bal
    reason = f"{who} is not granted {ctx.mail_from}"
    return Verdict.reject(NAME, SENDER_NOT_AUTHORISED, reason)


def check_null_sender(ctx: DataContext) -> Verdict | None:
    """DATA on submission: the null sender only for DSN/MDN reports."""
    if ctx.session.listener != "submission" or ctx.mail_from:
        return None
    message = ctx.message
    if message.mime_type == "multipart/report" and message.report_type in REPORT_TYPES:
        return None
    reason = f"null sender with Content-Type {message.content_type!r}"
    return Verdict.reject(NULL_NAME, NULL_SENDER_NOT_REPORT, reason)


def check_from_header(ctx: DataContext) -> Verdict | None:
    """DATA on submission: the From header must name the envelope sender."""
    if ctx.session.listener != "submission":
        return None
    problem = _from_problem(ctx)
    if problem is None:
        return None
    return Verdict.reject(FROM_NAME, FROM_HEADER_MISMATCH, problem)


def _from_problem(ctx: DataContext) -> str | None:
    author = ctx.message.author
    if author.problem is not None or not author.mailboxes:
        return f"From: {author.problem or 'no address'}"
    allowed = _envelope_identities(ctx)
    if len(author.mailboxes) == 1 and author.mailboxes[0] not in allowed:
        return f"From {author.mailboxes[0]} is not the envelope sender {ctx.mail_from or '<>'}"
    return _sender_problem(ctx, allowed, required=len(author.mailboxes) > 1)


def _sender_problem(ctx: DataContext, allowed: frozenset[str], required: bool) -> str | None:
    sender: AuthorField = ctx.message.sender
    if sender.count == 0:
        return "several From addresses and no Sender" if required else None
    if len(sender.mailboxes) != 1:  # RFC 5322 3.6.2: Sender is a single mailbox
        return f"Sender: {sender.problem or 'more than one address'}"
    acceptable = allowed if required else allowed | _person_identities(ctx)
    if sender.mailboxes[0] not in acceptable:
        return f"Sender {sender.mailboxes[0]} is neither the envelope sender nor the person"
    return None


def _envelope_identities(ctx: DataContext) -> frozenset[str]:
    if ctx.mail_from:
        return frozenset({normalise_address(ctx.mail_from)})
    return ctx.session.granted_bals


def _person_identities(ctx: DataContext) -> frozenset[str]:
    person = ctx.session.person
    extra = {normalise_address(person)} if person else set()
    return ctx.session.granted_bals | extra
