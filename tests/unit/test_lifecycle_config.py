"""`[lifecycle]`, `[retention]` and `[scheduler]`: defaults, and wrong values refused
naming the key (R25, R28).

Ref: server/config_lifecycle.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from server import config as config_mod
from server.initdir import InitOptions, render_config

BASE = '[server]\ndomains = ["op-a.mssante.fr"]\n'


def load(tmp_path: Path, rest: str = "") -> config_mod.Config:
    path = tmp_path / "mss.toml"
    path.write_text(BASE + rest)
    return config_mod.load(path)


def test_defaults(tmp_path: Path) -> None:
    cfg = load(tmp_path)
    assert cfg.lifecycle.rules().notice_days_before == (30, 7)
    assert (cfg.lifecycle.unpublish_after_days, cfg.lifecycle.delete_after_days,
            cfg.lifecycle.reserve_days) == (60, 365, 365)
    assert cfg.retention.folders == {"Trash": 30, "Junk": 30}
    assert cfg.retention.default_days == 0 and cfg.retention.by_type == {}
    assert (cfg.scheduler.tick, cfg.scheduler.leader_retry, cfg.scheduler.every) == (60, 30, {})


def test_init_writes_them(tmp_path: Path) -> None:
    text = render_config(InitOptions(tmp_path, "op-a.mssante.fr"), "localhost")
    path = tmp_path / "mss.toml"
    path.write_text(text)
    cfg = config_mod.load(path)
    assert "[lifecycle]" in text and "[retention]" in text
    assert cfg.lifecycle == config_mod.Config().lifecycle
    assert cfg.retention == config_mod.Config().retention


@pytest.mark.parametrize(("rest", "key"), [
    ("[lifecycle]\nnotice_days_before = [400]\n", r"lifecycle\.notice_days_before"),
    ('[lifecycle]\nnotice_days_before = ["30"]\n', r"lifecycle\.notice_days_before\[0\]"),
    ("[lifecycle]\nunpublish_after_days = 400\n", r"lifecycle\.unpublish_after_days"),
    ("[retention]\nfolders = { Trash = -1 }\n", r"retention\.folders\.Trash"),
    ("[retention]\nby_type = { XYZ = { Trash = 3 } }\n", r"retention\.by_type\.XYZ"),
    ('[retention]\nby_type = { ORG = { Trash = "3" } }\n', r"retention\.by_type\.ORG\.Trash"),
    ("[retention]\nbatch = 0\n", r"retention\.batch"),
    ("[scheduler]\nevery = { nojob = 5 }\n", r"scheduler\.every\.nojob"),
    ("[scheduler]\ntick = 0\n", r"scheduler\.tick"),
])
def test_wrong_values_name_the_key(tmp_path: Path, rest: str, key: str) -> None:
    with pytest.raises(config_mod.ConfigError, match=rf"^{key}"):
        load(tmp_path, rest)
