"""Benchmark: RCPT-stage policy evaluation with the real ANS trust list.

Loads tests/fixtures/listeblanchemssante.xml, builds a PolicyEngine with
DEFAULT_RULES, and times `engine.evaluate(Stage.RCPT, ctx)` over a mix of
recipients (local active/unknown, trusted remote, untrusted, patient with a
valid and an invalid INS). Reports the median microseconds per recipient over
several rounds (time.perf_counter_ns), for evaluation alone and for building
the RcptContext plus evaluation (what the gateway pays per RCPT TO).

Run: .venv/bin/python bench/policy_rcpt.py [--rounds 15] [--per-round 20000]
Target: median under 50 us per recipient.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from policy.context import MailContext, RcptContext, SessionFacts, Stage  # noqa: E402
from policy.engine import PolicyEngine  # noqa: E402
from policy.rules import DEFAULT_RULES  # noqa: E402
from policy.trust_list import TrustList, parse_trust_list  # noqa: E402

TRUST_LIST = ROOT / "tests" / "fixtures" / "listeblanchemssante.xml"
LOCAL = "op-a.mssante.fr"
TARGET_US = 50.0

# (category, recipient, local state given by the gateway)
MIX: tuple[tuple[str, str, str | None], ...] = (
    ("local active", f"dr.z@{LOCAL}", "active"),
    ("local unknown", f"nobody@{LOCAL}", "unknown"),
    ("trusted remote", "dr.y@15-20.mssante.fr", None),
    ("trusted remote", "x@mssante.apicrypt.org", None),
    ("trusted remote", "a@adapei15.aura.mssante.fr", None),
    ("untrusted", "someone@laposte.net", None),
    ("untrusted", "x@mssante.fr.evil.com", None),
    ("patient valid", "185057512345673@patient.mssante.fr", None),
    ("patient valid", "290032a00401234@patient.mssante.fr", None),
    ("patient invalid", "185057512345674@patient.mssante.fr", None),
)


def machine_info() -> str:
    nproc = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (
        f"nproc={nproc}; cpu={model}; python={platform.python_version()} "
        f"({platform.python_implementation()}); {platform.system()} {platform.machine()}"
    )


def mail_context(trust_list: TrustList) -> MailContext:
    session = SessionFacts(
        peer_ip="192.0.2.10",
        listener="submission",
        tls=True,
        authenticated_bal=f"dr.x@{LOCAL}",
        bal_type="PER",
        person="drx",
    )
    return MailContext(
        session=session,
        mail_from=f"dr.x@{LOCAL}",
        size_param=120_000,
        local_domains=frozenset({LOCAL}),
        trust_list=trust_list,
    )


def rcpt_context(mail: MailContext, recipient: str, state: str | None) -> RcptContext:
    accepted = ("a@15-20.mssante.fr", "b@15-20.mssante.fr", f"c@{LOCAL}")
    return RcptContext.from_mail(
        mail,
        recipient=recipient,
        accepted_recipients=accepted,
        recipient_local_state=state,
        recipients_today=12,
    )


def time_rounds(work: Callable[[int], None], rounds: int, per_round: int) -> list[float]:
    """Microseconds per recipient, one value per round (after one warm-up round)."""
    work(per_round)
    results = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        work(per_round)
        results.append((time.perf_counter_ns() - start) / per_round / 1_000)
    return results


def report(label: str, per: list[float]) -> None:
    median = statistics.median(per)
    verdict = "OK" if median < TARGET_US else "OVER TARGET"
    print(
        f"{label:22} median {median:6.2f} us/recipient  (min {min(per):.2f}, "
        f"max {max(per):.2f}; target < {TARGET_US:.0f} us: {verdict})"
    )


def evaluator(engine: PolicyEngine, contexts: list[RcptContext]) -> Callable[[int], None]:
    def work(n: int) -> None:
        for i in range(n):
            engine.evaluate(Stage.RCPT, contexts[i % len(contexts)])

    return work


def builder(engine: PolicyEngine, mail: MailContext) -> Callable[[int], None]:
    def work(n: int) -> None:
        for i in range(n):
            _, recipient, state = MIX[i % len(MIX)]
            engine.evaluate(Stage.RCPT, rcpt_context(mail, recipient, state))

    return work


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--per-round", type=int, default=20_000)
    args = parser.parse_args()

    start = time.perf_counter_ns()
    trust_list = parse_trust_list(TRUST_LIST.read_bytes())
    load_ms = (time.perf_counter_ns() - start) / 1e6
    engine = PolicyEngine(DEFAULT_RULES)
    mail = mail_context(trust_list)
    contexts = [rcpt_context(mail, recipient, state) for _, recipient, state in MIX]

    print(f"machine: {machine_info()}")
    print(f"trust list: {len(trust_list.domains)} domains, {trust_list.version}, {load_ms:.0f} ms")
    for (category, recipient, _), ctx in zip(MIX, contexts, strict=True):
        reply = engine.evaluate(Stage.RCPT, ctx).reply
        print(f"  {category:16} {recipient:38} -> {reply.line() if reply else '250 accepted'}")
    print(f"rounds={args.rounds} x {args.per_round} recipients (round-robin over the mix)")
    report("evaluate", time_rounds(evaluator(engine, contexts), args.rounds, args.per_round))
    report("build ctx + evaluate", time_rounds(builder(engine, mail), args.rounds, args.per_round))
    for category in dict.fromkeys(c for c, _, _ in MIX):
        picked = [ctx for (cat, _, _), ctx in zip(MIX, contexts, strict=True) if cat == category]
        per = time_rounds(evaluator(engine, picked), 5, args.per_round // 4)
        print(f"  {category:20} median {statistics.median(per):6.2f} us/recipient (evaluate)")


if __name__ == "__main__":
    main()
