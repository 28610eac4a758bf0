"""The immutable facts a policy rule decides on, one context type per SMTP stage.

Owns: `Stage`, `SessionFacts`, `PolicyLimits`, `MailContext`, `RcptContext`,
`DataContext`, `STAGE_CONTEXT` (which context each stage expects), and the
protocols `MessageView` and `AuthorField`: what a DATA rule may know of the
message, read by the message parser (the gateway passes `message.facts`);
the message's files and the antivirus answer are `policy.content` views.

Invariants:
- every context is a frozen, keyword-only dataclass holding tuples and
  frozensets, never lists or sets (sequences given are frozen on the way in);
- addresses that are compared (authenticated BAL, granted BALs, local domains)
  are lower-cased at construction; `authenticated_bal` is always in
  `granted_bals`;
- the gateway does every look-up (local BAL state, today's recipient count,
  trust list in force, peer certificate DN) and passes the *facts*: no rule
  does I/O and no rule parses the message (header fields, content type and
  the From/Sender mailboxes arrive parsed, once, in a `MessageView`).

The gateway builds a `MailContext` at MAIL FROM, then derives one
`RcptContext` per RCPT TO (`RcptContext.from_mail`) and one `DataContext` at
end of DATA (`DataContext.from_mail`). The `submission` listener value also
covers implicit-TLS submission (port 465); `mx` is the inter-operator port.

Ref: RFC 5321 3.3 (transaction stages); RFC 1870 (SIZE=); RFC 5322 3.6.2
(From, Sender); R3, R4, R12, R15, R16, R18, R21; docs/architecture.md "Defaults";
docs/architecture.md "Conventions" 1, 2.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Any, Literal, Protocol

from .bal_types import BAL_TYPES, BalType
from .content import AttachmentPolicy, ContentView, ScanView
from .operator_dn import OperatorDN
from .trust_list import TrustList

Listener = Literal["submission", "mx"]
LocalState = Literal["active", "suspended", "unknown"]

LISTENERS: frozenset[str] = frozenset({"submission", "mx"})
LOCAL_STATES: frozenset[str] = frozenset({"active", "suspended", "unknown"})


class Stage(Enum):
    """The SMTP stage a rule runs at (rules reject as early as the evidence allows)."""

    CONNECT = "connect"
    EHLO = "ehlo"
    MAIL = "mail"
    RCPT = "rcpt"
    DATA = "data"


@dataclass(frozen=True, kw_only=True)
class SessionFacts:
    """What is known about the SMTP session once authenticated (or not)."""

    peer_ip: str
    listener: Listener
    tls: bool = False
    authenticated_bal: str | None = None
    bal_type: BalType | None = None
    granted_bals: frozenset[str] = frozenset()
    person: str | None = None
    peer_cert_dn: OperatorDN | None = None

    def __post_init__(self) -> None:
        _require(self.listener in LISTENERS, f"listener {self.listener!r}")
        _require(self.bal_type is None or self.bal_type in BAL_TYPES, f"bal_type {self.bal_type}")
        granted = {address.lower() for address in self.granted_bals}
        if self.authenticated_bal is not None:
            object.__setattr__(self, "authenticated_bal", self.authenticated_bal.lower())
            granted.add(self.authenticated_bal.lower())
        object.__setattr__(self, "granted_bals", frozenset(granted))

    @property
    def authenticated(self) -> bool:
        """True when SMTP AUTH (or a certificate for a BAL APP) succeeded."""
        return self.authenticated_bal is not None


# R18: 50 recipients per transaction for a personal BAL, 100 for the others.
_DEFAULT_CAPS: tuple[tuple[str, int], ...] = tuple(
    (kind, 50 if kind == "PER" else 100) for kind in BAL_TYPES)


@dataclass(frozen=True, kw_only=True)
class PolicyLimits:
    """Operator limits (docs/architecture.md "Defaults").

    `max_recipients` holds (BAL type, cap) pairs; a mapping given is frozen into pairs.
    """

    max_message_size: int = 52_428_800
    patient_max_message_size: int = 25_000_000
    max_recipients: tuple[tuple[str, int], ...] = _DEFAULT_CAPS
    default_max_recipients: int = 100
    justify_threshold: int = 10
    daily_recipient_budget: int | None = None

    def __post_init__(self) -> None:
        caps: Any = self.max_recipients
        pairs = caps.items() if isinstance(caps, Mapping) else caps
        object.__setattr__(self, "max_recipients", tuple((str(t), int(n)) for t, n in pairs))
        numbers = [
            self.max_message_size,
            self.patient_max_message_size,
            self.default_max_recipients,
            *(cap for _, cap in self.max_recipients),
        ]
        _require(all(n > 0 for n in numbers), "limits must be positive")
        _require(self.justify_threshold >= 0, "justify_threshold must be >= 0")
        budget = self.daily_recipient_budget
        _require(budget is None or budget > 0, "daily_recipient_budget must be > 0")

    def recipient_cap(self, bal_type: str | None) -> int:
        """Recipients per transaction for this BAL type (R18); the default otherwise."""
        return dict(self.max_recipients).get(bal_type or "", self.default_max_recipients)


@dataclass(frozen=True, kw_only=True)
class MailContext:
    """MAIL FROM stage: the session plus the envelope sender ("" = null sender)."""

    session: SessionFacts
    mail_from: str
    size_param: int | None = None
    local_domains: frozenset[str] = frozenset()
    limits: PolicyLimits = field(default_factory=PolicyLimits)
    trust_list: TrustList | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "local_domains", _lower_set(self.local_domains))


@dataclass(frozen=True)
class QuotaFacts:
    """A local recipient's quota usage and limits, as the gateway read them (R25).

    Octets are RFC822.SIZE sums, messages entry counts; a limit of 0 is none."""

    used_bytes: int
    used_messages: int
    limit_bytes: int = 0
    limit_messages: int = 0

    def __post_init__(self) -> None:
        _require(min(self.used_bytes, self.used_messages, self.limit_bytes,
                     self.limit_messages) >= 0, "quota facts must be >= 0")


@dataclass(frozen=True, kw_only=True)
class RcptContext(MailContext):
    """RCPT TO stage: one candidate recipient and the facts the gateway looked up."""

    recipient: str
    accepted_recipients: tuple[str, ...] = ()
    recipient_local_state: LocalState | None = None
    recipients_today: int = 0
    recipient_quota: QuotaFacts | None = None
    """The local recipient's quota usage and limits; None for a remote recipient."""

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "accepted_recipients", tuple(self.accepted_recipients))
        state = self.recipient_local_state
        _require(state is None or state in LOCAL_STATES, f"recipient_local_state {state!r}")
        _require(self.recipients_today >= 0, "recipients_today must be >= 0")

    @classmethod
    def from_mail(cls, mail: MailContext, **facts: Any) -> RcptContext:
        """The RCPT context for `mail` plus `recipient=...` and the other RCPT facts."""
        return cls(**_mail_fields(mail), **facts)


class AuthorField(Protocol):
    """A From or Sender field as the message parser read it (RFC 5322 3.6.2)."""

    @property
    def count(self) -> int:
        """How many fields of that name the message has."""

    @property
    def mailboxes(self) -> tuple[str, ...]:
        """Lower-cased addr-specs of the only field; () whenever `problem` is set."""

    @property
    def problem(self) -> str | None:
        """Why the field cannot be trusted (absent, repeated, ambiguous), or None."""


class MessageView(Protocol):
    """What DATA rules know of the message: parsed once, by the message parser."""

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        """(lower-case name, unfolded text) of every header field, in order."""

    @property
    def content_type(self) -> str:
        """The Content-Type value, lower-cased (for audit reasons)."""

    @property
    def mime_type(self) -> str:
        """`type/subtype`, lower-cased; text/plain when absent or invalid (RFC 2045 5.2)."""

    @property
    def report_type(self) -> str | None:
        """The `report-type` Content-Type parameter, lower-cased (RFC 6522 3)."""

    @property
    def author(self) -> AuthorField:
        """The From field(s)."""

    @property
    def sender(self) -> AuthorField:
        """The Sender field(s)."""


class DkimView(Protocol):
    """The DKIM outcome of a message: `pass`, `fail`, `permerror`, `temperror` or `none`."""

    @property
    def status(self) -> str: ...

    @property
    def detail(self) -> str: ...


@dataclass(frozen=True, kw_only=True)
class DataContext(MailContext):
    """End of DATA: accepted recipients, the parsed message, its real size."""

    recipients: tuple[str, ...]
    message: MessageView
    size: int = 0
    content: ContentView | None = None
    """The message's files (`policy.content`); None when the attachment rule is off."""
    antivirus: ScanView | None = None
    """The antivirus answer; None when no antivirus is configured or its rule is off."""
    dkim: DkimView | None = None
    """The DKIM outcome of a message from another operator (MX); None when not verified."""
    attachment_policy: AttachmentPolicy = field(default_factory=AttachmentPolicy)

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "recipients", tuple(self.recipients))

    @classmethod
    def from_mail(cls, mail: MailContext, **facts: Any) -> DataContext:
        """The DATA context for `mail` plus `recipients=...`, `message=...`, `size=...` (and
        `content=...`, `antivirus=...`, `dkim=...`, `attachment_policy=...`)."""
        return cls(**_mail_fields(mail), **facts)


STAGE_CONTEXT: dict[Stage, type] = {
    Stage.CONNECT: SessionFacts,
    Stage.EHLO: SessionFacts,
    Stage.MAIL: MailContext,
    Stage.RCPT: RcptContext,
    Stage.DATA: DataContext,
}


_MAIL_FIELDS = tuple(f.name for f in fields(MailContext))


def _mail_fields(mail: MailContext) -> dict[str, Any]:
    return {name: getattr(mail, name) for name in _MAIL_FIELDS}


def _lower_set(values: Iterable[str]) -> frozenset[str]:
    return frozenset(value.lower() for value in values)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(f"invalid policy context: {message}")
