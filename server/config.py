"""The configuration: one TOML file loaded at start into frozen, typed objects.

Owns: `Config` (the whole file: one section per table), `load` (read the
file, turn each table into its section, refuse what is wrong), `discover`
(which file), `worker_count` and `ConfigError`. The sections and their
defaults are `config_sections` and `config_lifecycle`; every check of a
value is here.

Invariants:
- An unknown key or a wrong value stops start-up with a `ConfigError` naming
  the key (`listeners.imap.port`), shown as `mss: error: ...` (exit 2).
- Relative paths are relative to the folder that holds the file.
- Discovery for every verb but `init`: `--config`, `$MSS_CONFIG`,
  `./mss.toml`, `/etc/mss/mss.toml`.

Ref: docs/architecture.md "Contracts" (config keys, listeners, defaults).
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

from imap_store.store.passwords import ARGON2_FLOOR
from message.mime_tree import MAX_DEPTH
from policy.attachment_types import EXECUTABLE_TYPES, MACRO_TYPES, SCRIPT_TYPES
from policy.bal_types import BAL_TYPES
from policy.context import PolicyLimits
from policy.rules import RULE_NAMES
from smtp_gateway.antivirus import parse_address as parse_clamd_address

from .config_lifecycle import (
    LifecycleSection,
    RetentionSection,
    SchedulerSection,
    lifecycle_problem,
)
from .config_sections import (
    AntivirusSection,
    AttachmentsSection,
    AuthSection,
    DatabaseSection,
    DkimSection,
    DsnSection,
    HttpSection,
    KeysSection,
    LimitsSection,
    Listener,
    ListenersSection,
    LogSection,
    PolicySection,
    QuotaSection,
    RecipientsSection,
    RelaySection,
    ServerSection,
    TlsSection,
    TrustlistSection,
)

LISTENER_NAMES = ("smtp", "submission", "submissions", "imap", "imaps", "http")
SEARCH_PATHS = (Path("mss.toml"), Path("/etc/mss/mss.toml"))
MAX_WORKERS = 64


class ConfigError(Exception):
    """A configuration problem; the message names the key or the paths tried."""


@dataclass(frozen=True)
class Config:
    """The whole file: its path and one section per table (defaults for those absent)."""

    path: Path = Path("mss.toml")
    server: ServerSection = field(default_factory=ServerSection)
    database: DatabaseSection = field(default_factory=DatabaseSection)
    tls: TlsSection = field(default_factory=TlsSection)
    keys: KeysSection = field(default_factory=KeysSection)
    listeners: ListenersSection = field(default_factory=ListenersSection)
    limits: LimitsSection = field(default_factory=LimitsSection)
    trustlist: TrustlistSection = field(default_factory=TrustlistSection)
    relay: RelaySection = field(default_factory=RelaySection)
    policy: PolicySection = field(default_factory=PolicySection)
    recipients: RecipientsSection = field(default_factory=RecipientsSection)
    quota: QuotaSection = field(default_factory=QuotaSection)
    auth: AuthSection = field(default_factory=AuthSection)
    http: HttpSection = field(default_factory=HttpSection)
    attachments: AttachmentsSection = field(default_factory=AttachmentsSection)
    antivirus: AntivirusSection = field(default_factory=AntivirusSection)
    dsn: DsnSection = field(default_factory=DsnSection)
    dkim: DkimSection = field(default_factory=DkimSection)
    lifecycle: LifecycleSection = field(default_factory=LifecycleSection)
    retention: RetentionSection = field(default_factory=RetentionSection)
    scheduler: SchedulerSection = field(default_factory=SchedulerSection)
    log: LogSection = field(default_factory=LogSection)

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def resolve(self, p: str) -> Path:
        """A path from the file, made absolute relative to the file's folder."""
        path = Path(p)
        return path if path.is_absolute() else (self.base_dir / path)


def worker_count(cfg: Config) -> int:
    """How many worker processes `mss serve` runs: `server.workers`, else the cores."""
    return cfg.server.workers or os.cpu_count() or 1


def load(path: Path) -> Config:
    """Read and validate one TOML file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    cfg: Config = _build(Config, data, "")
    domains = tuple(d.strip().lower() for d in cfg.server.domains)
    cfg = replace(cfg, path=path.resolve(), server=replace(cfg.server, domains=domains))
    _validate(cfg)
    return cfg


def discover(explicit: str | None) -> Path:
    """The config file to use, or ConfigError naming every path tried."""
    tried: list[str] = []
    candidates: list[tuple[str, Path]] = []
    if explicit:
        candidates.append(("--config", Path(explicit)))
    elif os.environ.get("MSS_CONFIG"):
        candidates.append(("$MSS_CONFIG", Path(os.environ["MSS_CONFIG"])))
    candidates += [("", p) for p in SEARCH_PATHS] if not explicit else []
    for label, p in candidates:
        tried.append(f"{p} ({label})" if label else str(p))
        if p.is_file():
            return p
    raise ConfigError("no configuration found; tried: " + ", ".join(tried))


_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_SELECTOR = re.compile(rf"{_LABEL}(?:\.{_LABEL})*", re.IGNORECASE)


def _validate_dsn_dkim(cfg: Config) -> None:
    if not 60 <= cfg.dsn.delay_after <= 30 * 86400:
        raise ConfigError("dsn.delay_after: expected 60 to 2592000 seconds")
    if not _SELECTOR.fullmatch(cfg.dkim.selector) or len(cfg.dkim.selector) > 253:
        raise ConfigError(f"dkim.selector: {cfg.dkim.selector!r} is not a DNS name")
    if not cfg.dkim.key:
        raise ConfigError("dkim.key: a key file path is required")


# Sane ranges of the [attachments] and [antivirus] numbers (inclusive).
CONTENT_BOUNDS = {"attachments.max_parts": (10, 100_000),
                  "attachments.max_archive_depth": (1, 10),
                  "attachments.max_archive_entries": (1, 100_000),
                  "attachments.max_archive_size": (1_048_576, 4_294_967_296),
                  "attachments.max_archive_ratio": (10, 10_000),
                  "antivirus.timeout": (1, 600)}
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")


def _validate_content(cfg: Config) -> None:
    for key, (low, high) in CONTENT_BOUNDS.items():
        section, name = key.split(".")
        value = getattr(getattr(cfg, section), name)
        if not low <= value <= high:
            raise ConfigError(f"{key}: expected {low} to {high}, got {value}")
    for i, kind in enumerate(cfg.attachments.allow):
        if not _MEDIA_TYPE.fullmatch(kind):
            raise ConfigError(f"attachments.allow[{i}]: expected a lower-case type/subtype, "
                              f"got {kind!r}")
        if kind in EXECUTABLE_TYPES | SCRIPT_TYPES | MACRO_TYPES:
            raise ConfigError(f"attachments.allow[{i}]: {kind} is always refused (R26)")
    if cfg.attachments.malformed not in ("refuse", "accept"):
        raise ConfigError("attachments.malformed: expected refuse or accept")
    if cfg.antivirus.clamd:
        try:
            parse_clamd_address(cfg.antivirus.clamd)
        except ValueError as exc:
            raise ConfigError(f"antivirus.clamd: {exc}, got {cfg.antivirus.clamd!r}") from None


# Connection caps per listener kind (`imap_store.store.admission`): all connections, those
# not logged in, those not logged in from one address, logged-in ones on one BAL. Each
# applies on its own (one above its total simply never binds), and a new connection is
# counted against all of them.
CONNECTION_KEYS = (*(f"{kind}_{cap}" for kind in ("smtp", "imap")
                     for cap in ("max_connections", "max_preauth_connections",
                                 "max_preauth_per_address", "max_connections_per_bal",
                                 "command_line_timeout")),
                   "smtp_login_timeout", "imap_preauth_timeout")


def _validate_connection_caps(cfg: Config) -> None:
    for key in CONNECTION_KEYS:
        if getattr(cfg.limits, key) < 1:
            raise ConfigError(f"limits.{key}: must be at least 1")


def _validate_http(cfg: Config) -> None:
    h = cfg.http
    for i, token in enumerate(h.api_tokens):
        if len(token) != 64 or any(c not in "0123456789abcdef" for c in token):
            raise ConfigError(f"http.api_tokens[{i}]: expected a SHA-256 digest in lower-case "
                              "hex (64 characters), never the token itself")
    for key in ("max_connections", "max_connections_per_address", "max_header_bytes",
                "max_headers", "max_body", "request_timeout", "idle_timeout"):
        if getattr(h, key) < 1:
            raise ConfigError(f"http.{key}: must be at least 1")
    if not 1 <= h.search_limit <= 100:
        raise ConfigError("http.search_limit: expected 1 to 100")
    for key in ("imaps_port", "imap_port", "submissions_port", "submission_port"):
        if getattr(h.autoconfig, key) > 65535:
            raise ConfigError(f"http.autoconfig.{key}: not a TCP port")


def _check_scalar(key: str, tp: Any, value: Any) -> Any:
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
    elif tp is int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"{key}: expected a non-negative integer, got {value!r}")
    elif tp is str and not isinstance(value, str):
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    return value


def _convert(key: str, tp: Any, value: Any) -> Any:
    origin = typing.get_origin(tp)
    if is_dataclass(tp):
        return _build(tp, value, key)
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        item = typing.get_args(tp)[0]
        return tuple(_check_scalar(f"{key}[{i}]", item, v) for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a table, got {value!r}")
        item = typing.get_args(tp)[1]
        return {k: _check_scalar(f"{key}.{k}", item, v) for k, v in value.items()}
    if origin in (typing.Union, types.UnionType):
        return value
    return _check_scalar(key, tp, value)


def _build(cls: Any, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix}: expected a table")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls) if f.name != "path"}
    for k in data:
        if k not in known:
            raise ConfigError(f"unknown key '{prefix + '.' if prefix else ''}{k}'")
    kwargs = {k: _convert(f"{prefix + '.' if prefix else ''}{k}", hints[k], v)
              for k, v in data.items()}
    return cls(**kwargs)


def _validate(cfg: Config) -> None:
    for name in LISTENER_NAMES:
        lst: Listener = getattr(cfg.listeners, name)
        try:
            ipaddress.ip_address(lst.host)
        except ValueError:
            raise ConfigError(f"listeners.{name}.host: expected an IP literal, "
                              f"got {lst.host!r}") from None
        if not 0 <= lst.port <= 65535:
            raise ConfigError(f"listeners.{name}.port: {lst.port} is not a TCP port")
        if lst.proxy_protocol:
            raise ConfigError(f"listeners.{name}.proxy_protocol: the PROXY protocol is not "
                              "supported by this version; set it to false")
    if not cfg.server.domains:
        raise ConfigError("server.domains: at least one local domain is required")
    if cfg.server.workers > MAX_WORKERS:
        raise ConfigError(f"server.workers: expected 0 (the number of cores) to {MAX_WORKERS}, "
                          f"got {cfg.server.workers}")
    if cfg.log.level not in ("debug", "info", "warning", "error"):
        raise ConfigError("log.level: expected debug, info, warning or error")
    if cfg.limits.patient_max_message_size > cfg.limits.max_message_size:
        raise ConfigError("limits.patient_max_message_size: exceeds limits.max_message_size")
    _validate_policy(cfg)
    _validate_rcpt_limits(cfg)
    _validate_mime_depth(cfg)
    _validate_http(cfg)
    _validate_connection_caps(cfg)
    _validate_content(cfg)
    _validate_relay(cfg)
    _validate_dsn_dkim(cfg)
    from .jobs import JOBS  # the job names; jobs imports this module
    why = lifecycle_problem(cfg.lifecycle, cfg.retention, cfg.scheduler, frozenset(JOBS))
    if why:
        raise ConfigError(why)


def _validate_relay(cfg: Config) -> None:
    r = cfg.relay
    for key in ("connections", "retry_base", "retry_max", "lifetime", "timeout", "lease"):
        if getattr(r, key) < 1:
            raise ConfigError(f"relay.{key}: must be at least 1")
    if r.lease < 2 * r.timeout:
        raise ConfigError("relay.lease: must be at least twice relay.timeout")
    if not 0 < r.mx_port < 65536:
        raise ConfigError(f"relay.mx_port: expected a port (1-65535), got {r.mx_port}")
    for domain, route in r.transport.items():
        host, sep, port = route.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"relay.transport.{domain}: expected host:port, got {route!r}")


# argon2id bounds: the OWASP minimum (ARGON2_FLOOR) up to what one server can afford.
ARGON2_BOUNDS = {"argon2_memory_kib": (ARGON2_FLOOR.memory_kib, 1_048_576),
                 "argon2_time_cost": (ARGON2_FLOOR.time_cost, 100),
                 "argon2_parallelism": (ARGON2_FLOOR.parallelism, 64)}
AUTH_BOUNDS = {**ARGON2_BOUNDS, "max_verifications": (0, 1024), "login_wait_ms": (1, 60_000)}


def _validate_auth_cost(cfg: Config) -> None:
    for key, (low, high) in AUTH_BOUNDS.items():
        value = getattr(cfg.auth, key)
        if not low <= value <= high:
            floor = " (the OWASP minimum for argon2id)" if key in ARGON2_BOUNDS else ""
            raise ConfigError(f"auth.{key}: expected {low}{floor} to {high}, got {value}")


def _validate_auth(cfg: Config) -> None:
    _validate_auth_cost(cfg)
    for key in ("password_types", "app_password_types"):
        for t in getattr(cfg.auth, key):
            if t not in BAL_TYPES:
                raise ConfigError(f"auth.{key}: {t!r} is not a BAL type ({', '.join(BAL_TYPES)})")
    if cfg.auth.max_failures < 1 or cfg.auth.min_password_length < 8:
        raise ConfigError("auth.max_failures must be >= 1 and auth.min_password_length >= 8")


def _validate_rcpt_limits(cfg: Config) -> None:
    """RCPT bounds (`smtp_gateway.rcpt_limits`): room for the largest recipient cap (R18)."""
    largest = max([*cfg.recipients.max_per_transaction.values(),
                   PolicyLimits().default_max_recipients])
    if cfg.limits.smtp_max_rcpt_commands < largest:
        raise ConfigError(f"limits.smtp_max_rcpt_commands: must be at least {largest}, the "
                          "largest recipient cap (RFC 5321 4.5.3.1.8)")
    if cfg.limits.smtp_max_refused_rcpts < 1:
        raise ConfigError("limits.smtp_max_refused_rcpts: must be at least 1")


# Ordinary mail nests 3 or 4 levels (mixed > related > alternative > text); each message
# forwarded as an attachment adds 2 (message/rfc822 > mixed). Below 8 a forward of a forward
# would be refused; above MAX_DEPTH the parts could not be shown by FETCH or searched.
MIME_DEPTH_BOUNDS = (8, MAX_DEPTH)


def _validate_mime_depth(cfg: Config) -> None:
    low, high = MIME_DEPTH_BOUNDS
    if not low <= cfg.limits.max_mime_depth <= high:
        raise ConfigError(f"limits.max_mime_depth: expected {low} to {high} (the deepest "
                          f"MIME structure parsed), got {cfg.limits.max_mime_depth}")


def _validate_policy(cfg: Config) -> None:
    _validate_auth(cfg)
    for name, mode in cfg.policy.modes.items():
        if name not in RULE_NAMES:
            raise ConfigError(f"policy.modes.{name}: unknown rule (known: {', '.join(RULE_NAMES)})")
        if mode not in ("enforce", "warn", "off"):
            raise ConfigError(f"policy.modes.{name}: expected enforce, warn or off")
    for bal_type, cap in cfg.recipients.max_per_transaction.items():
        if bal_type not in BAL_TYPES or cap < 1:
            raise ConfigError(f"recipients.max_per_transaction.{bal_type}: expected a BAL type "
                              f"({', '.join(BAL_TYPES)}) and a positive cap")
