"""Hypothesis profiles for the property tests, and the time-boxed fuzz mode.

`make test` runs each property test on a fixed, bounded set of examples
(profile "ci": derandomized, so a run is reproducible, no example database,
and Hypothesis's caches in a temporary folder, not in the working tree).
`make fuzz SECONDS=N` sets `MSS_FUZZ_SECONDS=N`: the N seconds are shared out
evenly between the property tests, and each test is run again and again with
fresh random examples (profile "fuzz") until its share is spent. Failing
examples are kept in `.hypothesis/` (not committed) and replayed first by the
next fuzz run; a crash found is then kept as an explicit `@example`.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import time

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir

FUZZ_ENV = "MSS_FUZZ_SECONDS"
_CI_EXAMPLES = 100
_FUZZ_EXAMPLES = 200

settings.register_profile(
    "ci", max_examples=_CI_EXAMPLES, deadline=None, derandomize=True, database=None,
    print_blob=True, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "fuzz", max_examples=_FUZZ_EXAMPLES, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow])


def fuzz_seconds() -> float | None:
    """The fuzz budget in seconds from the environment, None when not fuzzing."""
    value = os.environ.get(FUZZ_ENV, "").strip()
    if not value:
        return None
    seconds = float(value)
    if seconds <= 0:
        raise pytest.UsageError(f"{FUZZ_ENV} must be a positive number of seconds")
    return seconds


if fuzz_seconds():
    settings.load_profile("fuzz")
else:
    settings.load_profile("ci")
    _storage = tempfile.mkdtemp(prefix="mss-hypothesis-")
    set_hypothesis_home_dir(_storage)
    atexit.register(shutil.rmtree, _storage, ignore_errors=True)


def _is_property(item: pytest.Item) -> bool:
    test = getattr(item, "obj", None)
    return getattr(test, "is_hypothesis_test", False)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    budget = fuzz_seconds()
    if budget is None:
        return
    properties = [item for item in items if _is_property(item)]
    share = budget / max(len(properties), 1)
    for item in properties:
        item.stash[_SHARE] = share


_SHARE = pytest.StashKey[float]()


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """In fuzz mode, run a property test with fresh examples until its share is spent."""
    share = pyfuncitem.stash.get(_SHARE, None)
    if share is None:
        return None
    args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    end = time.monotonic() + share
    runs = 0
    while True:
        pyfuncitem.obj(**args)
        runs += 1
        if time.monotonic() >= end:
            break
    pyfuncitem.user_properties.append(("fuzz_runs", runs))
    return True


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """In fuzz mode, how many runs (of `_FUZZ_EXAMPLES` examples at most) each test had."""
    if fuzz_seconds() is None:
        return
    lines = [f"{report.nodeid}: {runs} run(s)"
             for report in terminalreporter.getreports("passed")
             for name, runs in report.user_properties if name == "fuzz_runs"]
    if lines:
        terminalreporter.write_sep("-", f"fuzz: up to {_FUZZ_EXAMPLES} examples per run")
        for line in lines:
            terminalreporter.write_line(line)
