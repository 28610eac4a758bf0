"""`[server] workers`: its bounds, its default, and the part of each cap one worker gets.

Ref: server/supervisor.py, server/workers.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from server import config as config_mod
from server.workers import DIVIDED_CAPS, worker_share

BASE = '[server]\ndomains = ["op-a.mssante.fr"]\n'


def load(tmp_path: Path, server: str = "", rest: str = "") -> config_mod.Config:
    path = tmp_path / "mss.toml"
    path.write_text(BASE + server + "\n" + rest)
    return config_mod.load(path)


def test_default_is_the_number_of_cores(tmp_path: Path) -> None:
    cfg = load(tmp_path)
    assert cfg.server.workers == 0
    assert config_mod.worker_count(cfg) == (os.cpu_count() or 1)
    assert config_mod.worker_count(load(tmp_path, "workers = 3")) == 3


@pytest.mark.parametrize("value", ["-1", "65", '"2"', "true", "1.5"])
def test_bad_values_are_refused_naming_the_key(tmp_path: Path, value: str) -> None:
    with pytest.raises(config_mod.ConfigError, match=r"^server\.workers: "):
        load(tmp_path, f"workers = {value}")


def test_each_worker_gets_its_part_of_the_caps(tmp_path: Path) -> None:
    cfg = load(tmp_path, rest="[limits]\nsmtp_max_preauth_per_address = 5\n"
                              "imap_max_connections_per_bal = 1\n"
                              "[auth]\nmax_verifications = 7\n")
    assert worker_share(cfg, 1) is cfg
    share = worker_share(cfg, 2)
    for key in DIVIDED_CAPS:
        whole, part = getattr(cfg.limits, key), getattr(share.limits, key)
        assert part == max(1, whole // 2), key
    assert share.limits.smtp_max_preauth_per_address == 2  # 2 workers x 2 <= 5
    assert share.limits.imap_max_connections_per_bal == 1  # never below 1
    assert share.limits.imap_max_connections == 500
    assert share.auth.max_verifications == 3
    assert share.limits.smtp_command_timeout == cfg.limits.smtp_command_timeout
    assert worker_share(load(tmp_path), 2).auth.max_verifications == max(
        1, (os.cpu_count() or 1) // 2)


def test_pin_workers_defaults_to_true_and_takes_only_a_boolean(tmp_path: Path) -> None:
    assert load(tmp_path).server.pin_workers is True
    assert load(tmp_path, "pin_workers = false").server.pin_workers is False
    for value in ('"no"', "0"):
        with pytest.raises(config_mod.ConfigError, match=r"^server\.pin_workers: "):
            load(tmp_path, f"pin_workers = {value}")
