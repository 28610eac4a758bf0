"""The sections of the configuration: one frozen dataclass per TOML table, with its defaults.

Owns: every section but `[lifecycle]`, `[retention]` and `[scheduler]`
(`config_lifecycle`): `[server]`, `[database]`, `[tls]`, `[keys]`,
`[listeners.NAME]` (`Listener`), `[limits]`, `[trustlist]`, `[relay]`,
`[dsn]`, `[dkim]`, `[policy]`, `[attachments]`, `[antivirus]`,
`[recipients]`, `[quota]`, `[auth]`, `[http]` and `[http.autoconfig]`,
`[log]`. A field's name is its key, its type the value's (checked by
`config.load`), its default the value when the key is absent.

What is read, what is refused and the whole `Config` are `config`'s: no
check lives here.

Ref: docs/architecture.md "Contracts" (config keys, listeners, defaults),
"Defaults".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from message.mime_tree import MAX_DEPTH
from policy.attachment_types import DEFAULT_ALLOWED
from policy.bal_types import BAL_TYPES
from policy.context import PolicyLimits


@dataclass(frozen=True)
class ServerSection:
    hostname: str = "localhost"
    domains: tuple[str, ...] = ()
    workers: int = 0
    """`mss serve` worker processes (`server.supervisor`); 0 means the number of cores."""
    pin_workers: bool = True
    """Each worker on a CPU of its own when there are enough (`server.cpu_affinity`)."""


@dataclass(frozen=True)
class DatabaseSection:
    url: str = "sqlite:///data/mss.sqlite3"


@dataclass(frozen=True)
class TlsSection:
    cert: str = "certs/server.pem"
    key: str = "certs/server.key"
    ca_bundle: str = "certs/ca.pem"
    crl: tuple[str, ...] = ()
    tls13: bool = True


@dataclass(frozen=True)
class KeysSection:
    kek: str = "keys/kek"


@dataclass(frozen=True)
class Listener:
    host: str = "127.0.0.1"
    port: int = 0
    enabled: bool = True
    proxy_protocol: bool = False
    tls: bool = True


@dataclass(frozen=True)
class ListenersSection:
    smtp: Listener = field(default_factory=lambda: Listener(port=25))
    submission: Listener = field(default_factory=lambda: Listener(port=587))
    submissions: Listener = field(default_factory=lambda: Listener(port=465))
    imap: Listener = field(default_factory=lambda: Listener(port=143))
    imaps: Listener = field(default_factory=lambda: Listener(port=993))
    http: Listener = field(default_factory=lambda: Listener(port=8080))


@dataclass(frozen=True)
class LimitsSection:
    max_message_size: int = 52_428_800
    patient_max_message_size: int = 25_000_000
    smtp_command_timeout: int = 300
    smtp_max_connections: int = 200
    smtp_max_preauth_connections: int = 100
    smtp_max_preauth_per_address: int = 10
    smtp_max_connections_per_bal: int = 20
    smtp_login_timeout: int = 60
    smtp_command_line_timeout: int = 30
    smtp_max_rcpt_commands: int = 1000
    smtp_max_refused_rcpts: int = 20
    imap_max_connections: int = 1000
    imap_max_preauth_connections: int = 500
    imap_max_preauth_per_address: int = 20
    imap_max_connections_per_bal: int = 50
    imap_command_line_timeout: int = 30
    imap_max_line: int = 65_536
    imap_max_literal: int = 52_428_800 + 65_536
    imap_idle_timeout: int = 1800
    imap_preauth_timeout: int = 60
    shutdown_grace: int = 10
    max_mime_depth: int = MAX_DEPTH
    """Multipart and message/rfc822 levels a message may nest (SMTP DATA and IMAP APPEND)."""


@dataclass(frozen=True)
class TrustlistSection:
    source: str = ""
    sha256: str = ""


@dataclass(frozen=True)
class RelaySection:
    """The relay (`smtp_gateway.relay`): routes, connections, retries, lifetime (seconds)."""

    transport: dict[str, str] = field(default_factory=dict)
    mx_port: int = 25
    connections: int = 10
    retry_base: int = 60
    retry_max: int = 3600
    lifetime: int = 432_000
    timeout: int = 300
    lease: int = 1800


@dataclass(frozen=True)
class DsnSection:
    """Delivery status notifications (R22): a delay report once a message waits this long."""

    delay_after: int = 14400


@dataclass(frozen=True)
class DkimSection:
    """The operator's DKIM key (`mss dkim keygen` writes it) and its DNS selector."""

    selector: str = "mss"
    key: str = "keys/dkim.key"


@dataclass(frozen=True)
class PolicySection:
    """Rule modes (`enforce`, `warn`, `off`) and the global soft bounce.

    Ref: docs/architecture.md "Conventions" 6.
    """

    soft_bounce: bool = False
    modes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AttachmentsSection:
    """The attachment rule (R26): allowed detected types, malformed MIME, archive bounds."""

    allow: tuple[str, ...] = DEFAULT_ALLOWED
    malformed: str = "refuse"
    max_parts: int = 1000
    max_archive_depth: int = 3
    max_archive_entries: int = 1000
    max_archive_size: int = 104_857_600
    max_archive_ratio: int = 100


@dataclass(frozen=True)
class AntivirusSection:
    """The ClamAV daemon every message is sent to (R26); "" for none."""

    clamd: str = ""
    timeout: int = 30


@dataclass(frozen=True)
class RecipientsSection:
    """Recipient policy (R18): caps per BAL type, audit threshold, daily budget (0 = off)."""

    max_per_transaction: dict[str, int] = field(
        default_factory=lambda: dict(PolicyLimits().max_recipients))
    justify_threshold: int = 10
    daily_budget: int = 0


@dataclass(frozen=True)
class QuotaSection:
    """Per-BAL storage quota defaults (R25): octets and messages, 0 = no limit;
    `mss bal set --quota-bytes/--quota-messages` overrides them per BAL."""

    default_bytes: int = 0
    default_messages: int = 0


@dataclass(frozen=True)
class AuthSection:
    """Login rules (R9, R10; docs/architecture.md "Defaults"): lockout, delays, password
    policy, argon2id cost and how many verifications run at once."""

    max_failures: int = 5
    failure_window: int = 900
    lockout: int = 900
    delay_base_ms: int = 250
    delay_cap_ms: int = 5000
    min_password_length: int = 12
    password_types: tuple[str, ...] = BAL_TYPES
    app_password_types: tuple[str, ...] = BAL_TYPES
    argon2_memory_kib: int = 65536
    argon2_time_cost: int = 3
    argon2_parallelism: int = 4
    max_verifications: int = 0
    """argon2 verifications at once per process; 0 means the number of cores."""
    login_wait_ms: int = 10_000
    """How long a login waits for its address's turn, then for a verification slot."""


# --- [http] and [http.autoconfig] ----------------------------------------------------


@dataclass(frozen=True)
class AutoconfigSection:
    """What mail clients are told (R11); "" or 0 means server.hostname / the listener port."""

    imap_host: str = ""
    smtp_host: str = ""
    imaps_port: int = 0
    imap_port: int = 0
    submissions_port: int = 0
    submission_port: int = 0
    display_name: str = ""


@dataclass(frozen=True)
class HttpSection:
    """The HTTP listener's bounds and the directory API's bearer tokens (SHA-256 hex)."""

    api_tokens: tuple[str, ...] = ()
    max_connections: int = 100
    max_connections_per_address: int = 20
    max_header_bytes: int = 16_384
    max_headers: int = 64
    max_body: int = 65_536
    request_timeout: int = 15
    idle_timeout: int = 30
    search_limit: int = 20
    autoconfig: AutoconfigSection = field(default_factory=AutoconfigSection)


@dataclass(frozen=True)
class LogSection:
    level: str = "info"
