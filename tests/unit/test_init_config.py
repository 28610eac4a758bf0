"""The configuration `mss init` writes: `[dsn]` and `[dkim]` stated, with the loader's
defaults, and the file loads.

Ref: server/initdir.py, server/config.py; R22; RFC 6376.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from server import config as config_mod
from server.initdir import InitOptions, render_config


@pytest.mark.parametrize("dev_ports", [False, True])
def test_init_writes_dsn_and_dkim_with_the_defaults(tmp_path: Path, dev_ports: bool) -> None:
    text = render_config(InitOptions(tmp_path, "op-a.mssante.fr", dev_ports=dev_ports),
                         "localhost")
    path = tmp_path / "mss.toml"
    path.write_text(text)
    assert "\n[dsn]" in text and "\n[dkim]" in text
    written = tomllib.loads(text)
    assert written["dsn"] == {"delay_after": 14400}
    assert written["dkim"] == {"selector": "mss", "key": "keys/dkim.key"}
    cfg = config_mod.load(path)
    defaults = config_mod.Config()
    assert cfg.dsn == defaults.dsn
    assert cfg.dkim == defaults.dkim
    assert "mss dkim keygen" in text  # the operator is told where the key comes from
