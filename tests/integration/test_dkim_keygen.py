"""`mss dkim keygen`: the key file (0600), the DNS record printed, no overwrite without
`--force`; a message signed with the written key verifies with dkimpy against the
printed record (the record served by a test DNS function).

Ref: RFC 6376 3.6.1, 3.6.2.1; docs/architecture.md "Contracts" (verbs, exit codes).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import dkim
import pytest

from server import config as config_mod
from server.cli_dkim import load_signer
from tests.integration.test_cli import mss

MESSAGE = (b"From: dr.a@op-a.mssante.fr\r\nTo: dr.b@op-b.mssante.fr\r\nSubject: s\r\n"
           b"Message-ID: <k1@op-a.mssante.fr>\r\n\r\nbody\r\n")


@pytest.fixture
def opdir(tmp_path: Path) -> Path:
    done = mss("init", "--dir", str(tmp_path / "op"), "--domain", "op-a.mssante.fr",
               cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    cfg = tmp_path / "op" / "mss.toml"
    text = cfg.read_text()
    assert text.count('selector = "mss"') == 1  # `mss init` writes [dkim] with its default
    cfg.write_text(text.replace('selector = "mss"', 'selector = "s2026"'))
    return tmp_path / "op"


def _record(stdout: str) -> tuple[str, bytes]:
    m = re.fullmatch(r"(\S+)\. IN TXT \( (.+) \)\n", stdout)
    assert m is not None, stdout
    strings = re.findall(r'"([^"]*)"', m.group(2))
    assert all(len(s) <= 255 for s in strings)
    return m.group(1), "".join(strings).encode()


async def test_keygen_writes_key_prints_record_and_signature_verifies(opdir: Path) -> None:
    cfg_arg = ["--config", str(opdir / "mss.toml")]
    done = mss(*cfg_arg, "dkim", "keygen", cwd=opdir)
    assert done.returncode == 0, done.stderr
    name, value = _record(done.stdout)
    assert name == "s2026._domainkey.op-a.mssante.fr"
    assert value.startswith(b"v=DKIM1; k=rsa; p=")
    key = opdir / "keys" / "dkim.key"
    assert key.stat().st_mode & 0o777 == 0o600
    signer = load_signer(config_mod.load(opdir / "mss.toml"))
    assert signer is not None and signer.selector == "s2026"
    signed = await signer.signed(MESSAGE, "op-a.mssante.fr")
    records = {name + ".": value}
    assert dkim.verify(signed, dnsfunc=lambda n, timeout=5: records.get(n.decode()))

    again = mss(*cfg_arg, "dkim", "keygen", cwd=opdir)
    assert again.returncode == 1
    assert again.stderr.startswith("mss: error: dkim.key:")
    assert key.read_bytes() == signer.private_key
    forced = mss(*cfg_arg, "--json", "dkim", "keygen", "--force", cwd=opdir)
    assert forced.returncode == 0, forced.stderr
    row = json.loads(forced.stdout)
    assert (row["name"], row["type"]) == ("s2026._domainkey.op-a.mssante.fr", "TXT")
    assert row["value"].encode() != value and key.read_bytes() != signer.private_key


def test_bad_selector_is_a_configuration_error(opdir: Path) -> None:
    cfg = opdir / "mss.toml"
    cfg.write_text(cfg.read_text().replace('selector = "s2026"', 'selector = "bad selector"'))
    done = mss("--config", str(cfg), "dkim", "keygen", cwd=opdir)
    assert done.returncode == 2
    assert "dkim.selector" in done.stderr
