"""PolicyEngine: modes, soft bounce, notes, ordering, configuration errors."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from policy import replies
from policy.context import RcptContext, Stage
from policy.engine import Mode, Outcome, PolicyEngine, RuleSpec, resolve_modes
from policy.rules import DEFAULT_RULES, RULE_NAMES
from policy.verdict import Action, Verdict
from smtp_gateway.gate import refusal
from tests.unit.policy.factories import OUR_DOMAIN, SMALL_LIST, mail, rcpt

RCPT = Stage.RCPT


def always(verdict: Verdict | None) -> Callable[[object], Verdict | None]:
    return lambda ctx: verdict


def exploding(ctx: object) -> Verdict | None:
    raise AssertionError("a rule in mode off must not run")


REJECT = Verdict.reject("reject", replies.UNKNOWN_RECIPIENT, "no such BAL")
TEMPFAIL = Verdict.tempfail("tempfail", replies.NO_TRUST_LIST, "no list")
NOTE = Verdict.audit("note", "12 recipients")

RULES = (
    RuleSpec("note", RCPT, always(NOTE)),
    RuleSpec("reject", RCPT, always(REJECT)),
    RuleSpec("tempfail", RCPT, always(TEMPFAIL)),
    RuleSpec("quiet", RCPT, always(None)),
)
CTX = rcpt("dr.y@op-b.mssante.fr")


def summary(outcome: Outcome) -> tuple[str | None, str | None, tuple[str, ...], tuple[str, ...]]:
    verdict = outcome.verdict
    return (
        verdict.rule if verdict else None,
        verdict.reply.line() if verdict and verdict.reply else None,
        tuple(w.rule for w in outcome.warnings),
        tuple(n.rule for n in outcome.notes),
    )


@pytest.mark.parametrize(
    ("modes", "soft_bounce", "expected"),
    [
        ({}, False, ("reject", "550 5.1.1 Mailbox unknown", (), ("note",))),
        ({}, True, ("reject", "450 4.1.1 Mailbox unknown", (), ("note",))),
        (
            {"reject": "warn"},
            False,
            ("tempfail", replies.NO_TRUST_LIST.line(), ("reject",), ("note",)),
        ),
        ({"reject": Mode.OFF}, False, ("tempfail", replies.NO_TRUST_LIST.line(), (), ("note",))),
        ({"reject": "off", "tempfail": "warn"}, False, (None, None, ("tempfail",), ("note",))),
        (
            {"reject": "warn", "tempfail": "warn"},
            False,
            (None, None, ("reject", "tempfail"), ("note",)),
        ),
        (
            {"note": "warn", "reject": "off", "tempfail": "off"},
            False,
            (None, None, (), ("note",)),
        ),
        ({"note": "off"}, False, ("reject", "550 5.1.1 Mailbox unknown", (), ())),
        (
            {"tempfail": "ENFORCE", "reject": "Off"},
            True,
            ("tempfail", replies.NO_TRUST_LIST.line(), (), ("note",)),
        ),
    ],
)
def test_modes_and_soft_bounce(
    modes: dict[str, Mode | str], soft_bounce: bool, expected: tuple[object, ...]
) -> None:
    outcome = PolicyEngine(RULES, modes, soft_bounce).evaluate(RCPT, CTX)
    assert summary(outcome) == expected


def test_soft_bounce_turns_reject_into_tempfail_and_marks_reason() -> None:
    outcome = PolicyEngine(RULES, {"note": "off"}, soft_bounce=True).evaluate(RCPT, CTX)
    assert outcome.verdict is not None
    assert outcome.verdict.action is Action.TEMPFAIL
    assert outcome.refused and outcome.verdict.reply == replies.UNKNOWN_RECIPIENT.soft()
    assert outcome.verdict.reason.endswith("[soft_bounce]")


def test_warnings_keep_their_original_reply_under_soft_bounce() -> None:
    outcome = PolicyEngine(RULES, {"reject": "warn"}, soft_bounce=True).evaluate(RCPT, CTX)
    assert outcome.warnings[0].reply == replies.UNKNOWN_RECIPIENT


# One verdict of every action a rule can return: an action added to `Action` without
# an entry here (and without the gate acting on it) fails the test below.
ONE_OF_EACH = {Action.ACCEPT: NOTE, Action.REJECT: REJECT, Action.TEMPFAIL: TEMPFAIL}


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("mode", [Mode.ENFORCE, Mode.WARN])
def test_every_action_the_engine_returns_is_acted_on_by_the_gate(action: Action,
                                                                 mode: Mode) -> None:
    verdict = ONE_OF_EACH[action]
    outcome = PolicyEngine((RuleSpec(verdict.rule, RCPT, always(verdict)),), {
        verdict.rule: mode}).evaluate(RCPT, CTX)
    if outcome.verdict is not None:  # the gate answers it
        assert outcome.refused and outcome.verdict == verdict
        reject = refusal(outcome.verdict, SMALL_LIST)
        assert reject.reply is verdict.reply and reject.reason.startswith(verdict.rule)
        return
    assert (outcome.warnings + outcome.notes) == (verdict,)  # the gate audits it
    if action is Action.ACCEPT:
        assert outcome.notes == (verdict,)
        with pytest.raises(ValueError):
            refusal(verdict, SMALL_LIST)


def test_off_rules_are_not_run() -> None:
    rules = (RuleSpec("boom", RCPT, exploding), RuleSpec("quiet", RCPT, always(None)))
    outcome = PolicyEngine(rules, {"boom": "off"}).evaluate(RCPT, CTX)
    assert outcome == Outcome()


def test_first_enforced_refusal_stops_evaluation() -> None:
    rules = (RuleSpec("reject", RCPT, always(REJECT)), RuleSpec("boom", RCPT, exploding))
    assert PolicyEngine(rules).evaluate(RCPT, CTX).verdict == REJECT


def test_rule_exceptions_propagate_to_the_gateway() -> None:
    with pytest.raises(AssertionError):
        PolicyEngine((RuleSpec("boom", RCPT, exploding),)).evaluate(RCPT, CTX)


def test_default_mode_comes_from_the_spec() -> None:
    rules = (RuleSpec("reject", RCPT, always(REJECT), Mode.WARN),)
    outcome = PolicyEngine(rules).evaluate(RCPT, CTX)
    assert outcome.verdict is None and outcome.warnings == (REJECT,)


def test_verdicts_are_labelled_with_the_registered_rule_name() -> None:
    rules = (RuleSpec("registered", RCPT, always(REJECT)),)
    outcome = PolicyEngine(rules).evaluate(RCPT, CTX)
    assert outcome.verdict is not None and outcome.verdict.rule == "registered"


def test_rules_only_run_at_their_stage() -> None:
    rules = (RuleSpec("reject", Stage.DATA, always(REJECT)),)
    assert PolicyEngine(rules).evaluate(RCPT, CTX) == Outcome()


@pytest.mark.parametrize(
    ("modes", "message"),
    [
        ({"no_such_rule": "warn"}, "no_such_rule"),
        ({"trust_space": "maybe"}, "trust_space"),
        ({"Trust_Space": "warn"}, "Trust_Space"),
    ],
)
def test_bad_mode_configuration_names_the_rule(modes: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PolicyEngine(DEFAULT_RULES, modes)
    with pytest.raises(ValueError, match=message):
        resolve_modes(DEFAULT_RULES, modes)


def test_duplicate_registration_and_conflicting_defaults_are_refused() -> None:
    twice = (RuleSpec("a", RCPT, always(None)), RuleSpec("a", RCPT, always(None)))
    with pytest.raises(ValueError, match="registered twice"):
        PolicyEngine(twice)
    conflicting = (
        RuleSpec("a", RCPT, always(None)),
        RuleSpec("a", Stage.DATA, always(None), Mode.WARN),
    )
    with pytest.raises(ValueError, match="default modes"):
        PolicyEngine(conflicting)


def test_wrong_context_type_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="RcptContext"):
        PolicyEngine(DEFAULT_RULES).evaluate(RCPT, mail())


def test_resolve_modes_covers_every_rule() -> None:
    modes = resolve_modes(DEFAULT_RULES, {"mss_headers": "enforce"})
    assert tuple(modes) == RULE_NAMES
    assert modes["mss_headers"] is Mode.ENFORCE
    assert modes["trust_space"] is Mode.ENFORCE


def test_one_mode_governs_a_rule_at_every_stage() -> None:
    engine = PolicyEngine(DEFAULT_RULES, {"message_size": "warn"})
    big = mail(size_param=60_000_000)
    outcome = engine.evaluate(Stage.MAIL, big)
    assert outcome.verdict is None
    assert [w.rule for w in outcome.warnings] == ["message_size"]


def test_default_engine_accepts_a_plain_local_recipient() -> None:
    ctx: RcptContext = rcpt(f"dr.z@{OUR_DOMAIN}")
    assert PolicyEngine(DEFAULT_RULES).evaluate(RCPT, ctx) == Outcome()
