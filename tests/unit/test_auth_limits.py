"""The `[auth]` cost keys refused at start naming the key, and the per-address turns.

Ref: docs/architecture.md "Defaults" (lockout) and "Passwords"; OWASP argon2id
minimum (m=19 MiB, t=2, p=1).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from imap_store.store.interfaces import LoginUnavailable
from imap_store.store.throttle import LoginTurns
from server import config as config_mod

BASE = '[server]\ndomains = ["op-a.mssante.fr"]\n'


def load_auth(tmp_path: Path, body: str) -> config_mod.Config:
    path = tmp_path / "mss.toml"
    path.write_text(BASE + "[auth]\n" + body + "\n")
    return config_mod.load(path)


def test_defaults(tmp_path: Path) -> None:
    a = load_auth(tmp_path, "").auth
    assert (a.argon2_memory_kib, a.argon2_time_cost, a.argon2_parallelism) == (65536, 3, 4)
    assert (a.max_verifications, a.login_wait_ms) == (0, 10_000)


@pytest.mark.parametrize("key, value", [
    ("argon2_memory_kib", "19455"),   # below 19 MiB
    ("argon2_memory_kib", "1048577"),
    ("argon2_time_cost", "1"),        # below t=2
    ("argon2_time_cost", "0"),
    ("argon2_time_cost", "101"),
    ("argon2_parallelism", "0"),      # below p=1
    ("argon2_parallelism", "65"),
    ("max_verifications", "1025"),
    ("max_verifications", "-1"),
    ("login_wait_ms", "0"),
    ("login_wait_ms", "60001"),
    ("argon2_memory_kib", '"64m"'),
    ("login_wait_ms", "1.5"),
    ("max_verifications", "true"),
])
def test_bad_values_are_refused_naming_the_key(tmp_path: Path, key: str, value: str) -> None:
    with pytest.raises(config_mod.ConfigError, match=rf"^auth\.{key}: "):
        load_auth(tmp_path, f"{key} = {value}")


def test_the_owasp_minimum_is_accepted_and_named_when_refused(tmp_path: Path) -> None:
    a = load_auth(tmp_path, "argon2_memory_kib = 19456\nargon2_time_cost = 2\n"
                            "argon2_parallelism = 1\nmax_verifications = 1\nlogin_wait_ms = 1").auth
    assert (a.argon2_memory_kib, a.argon2_time_cost, a.argon2_parallelism) == (19456, 2, 1)
    with pytest.raises(config_mod.ConfigError, match="OWASP minimum"):
        load_auth(tmp_path, "argon2_memory_kib = 8192")


async def test_one_turn_per_address_and_a_bounded_table() -> None:
    turns = LoginTurns(wait=0.05, max_addresses=2)
    release, both_in, order = asyncio.Event(), asyncio.Event(), []

    async def attempt(peer: str, name: str) -> None:
        async with turns.turn(peer):
            order.append(name)
            if len(order) == 2:
                both_in.set()
            await release.wait()

    first = asyncio.create_task(attempt("192.0.2.1", "first"))
    other = asyncio.create_task(attempt("192.0.2.2", "other"))
    await both_in.wait()
    with pytest.raises(LoginUnavailable):  # a third address: the table is full
        async with turns.turn("192.0.2.3"):
            pass
    with pytest.raises(LoginUnavailable):  # same address: no turn within the wait
        async with turns.turn("192.0.2.1"):
            pass
    assert len(turns) == 2
    waiting = asyncio.create_task(attempt("192.0.2.1", "second"))
    await asyncio.sleep(0.01)
    assert order == ["first", "other"]  # the second waits for the first
    release.set()
    await asyncio.gather(first, other, waiting)
    assert order == ["first", "other", "second"]
    assert len(turns) == 0  # addresses are dropped once no attempt holds or awaits them
