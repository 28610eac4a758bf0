"""`[attachments]` and `[antivirus]`: defaults, each key checked at start naming the key,
and the settings the gateway builds from them (`server.services.content_inspection`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from policy.attachment_types import DEFAULT_ALLOWED
from server.config import ConfigError, load
from server.services import content_inspection
from smtp_gateway.antivirus import parse_address

BASE = '[server]\ndomains = ["op-a.mssante.fr"]\n'


def _load(tmp_path: Path, extra: str):  # noqa: ANN202
    path = tmp_path / "mss.toml"
    path.write_text(BASE + extra)
    return load(path)


def test_defaults(tmp_path: Path) -> None:
    cfg = _load(tmp_path, "")
    inspection = content_inspection(cfg)
    assert cfg.attachments.allow == DEFAULT_ALLOWED and cfg.attachments.malformed == "refuse"
    assert inspection.policy.allowed == frozenset(DEFAULT_ALLOWED)
    assert inspection.policy.refuse_malformed and inspection.scanner is None
    assert (inspection.bounds.max_parts, inspection.bounds.max_archive_depth,
            inspection.bounds.max_archive_entries, inspection.bounds.max_archive_size,
            inspection.bounds.max_archive_ratio) == (1000, 3, 1000, 104_857_600, 100)


def test_values_reach_the_gateway(tmp_path: Path) -> None:
    cfg = _load(tmp_path, '[attachments]\nallow = ["application/pdf", "image/png"]\n'
                          'malformed = "accept"\nmax_archive_depth = 2\n'
                          '[antivirus]\nclamd = "/run/clamav/clamd.ctl"\ntimeout = 5\n')
    inspection = content_inspection(cfg)
    assert inspection.policy.allowed == {"application/pdf", "image/png"}
    assert not inspection.policy.refuse_malformed
    assert inspection.bounds.max_archive_depth == 2
    assert inspection.scanner is not None
    assert (inspection.scanner.address, inspection.scanner.timeout) == (
        "/run/clamav/clamd.ctl", 5.0)


@pytest.mark.parametrize(("extra", "key"), [
    ('[attachments]\nallow = ["PDF"]', "attachments.allow[0]"),
    ('[attachments]\nallow = ["application/pdf", "application/x-elf"]', "attachments.allow[1]"),
    ('[attachments]\nallow = ["application/vnd.ms-word.document.macroEnabled.12"]',
     "attachments.allow[0]"),
    ('[attachments]\nallow = "application/pdf"', "attachments.allow"),
    ('[attachments]\nmalformed = "ignore"', "attachments.malformed"),
    ("[attachments]\nmax_parts = 5", "attachments.max_parts"),
    ("[attachments]\nmax_archive_depth = 0", "attachments.max_archive_depth"),
    ("[attachments]\nmax_archive_entries = 0", "attachments.max_archive_entries"),
    ("[attachments]\nmax_archive_size = 1000", "attachments.max_archive_size"),
    ("[attachments]\nmax_archive_ratio = 2", "attachments.max_archive_ratio"),
    ("[attachments]\nunknown = 1", "attachments.unknown"),
    ('[antivirus]\nclamd = "clamd.sock"', "antivirus.clamd"),
    ('[antivirus]\nclamd = "localhost"', "antivirus.clamd"),
    ('[antivirus]\nclamd = "127.0.0.1:99999"', "antivirus.clamd"),
    ("[antivirus]\ntimeout = 0", "antivirus.timeout"),
    ('[policy]\nmodes = { attachments = "maybe" }', "policy.modes.attachments"),
])
def test_bad_values_name_their_key(tmp_path: Path, extra: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        _load(tmp_path, extra)


@pytest.mark.parametrize(("value", "address"), [
    ("/var/run/clamav/clamd.ctl", "/var/run/clamav/clamd.ctl"),
    ("127.0.0.1:3310", ("127.0.0.1", 3310)),
    ("clamav.internal:3310", ("clamav.internal", 3310)),
    ("[::1]:3310", ("::1", 3310)),
])
def test_clamd_addresses(value: str, address: object) -> None:
    assert parse_address(value) == address
