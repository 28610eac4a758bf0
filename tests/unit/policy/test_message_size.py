"""Rules message_size (R21) and patient_message_size (R16), at MAIL, RCPT and DATA."""

from __future__ import annotations

import pytest

from policy import replies
from policy.context import PolicyLimits, Stage
from policy.engine import PolicyEngine
from policy.message_size import (
    check_actual,
    check_declared,
    check_patient_actual,
    check_patient_declared,
)
from policy.reply import Reply
from policy.rules import DEFAULT_RULES
from tests.unit.policy.factories import VALID_PATIENT, answer, data, mail, rcpt

MAX = 52_428_800
PATIENT_MAX = 25_000_000
PRO = "dr.y@op-b.mssante.fr"


@pytest.mark.parametrize(
    ("size_param", "reply"),
    [
        (None, None),
        (0, None),
        (MAX, None),
        (MAX + 1, replies.MESSAGE_TOO_BIG),
        (10**12, replies.MESSAGE_TOO_BIG),
    ],
)
def test_declared_size_at_mail(size_param: int | None, reply: Reply | None) -> None:
    verdict = check_declared(mail(size_param=size_param))
    assert (verdict.reply if verdict else None) is reply


@pytest.mark.parametrize(
    ("recipient", "size_param", "reply"),
    [
        (VALID_PATIENT, None, None),
        (VALID_PATIENT, PATIENT_MAX, None),
        (VALID_PATIENT, PATIENT_MAX + 1, replies.PATIENT_MESSAGE_TOO_BIG),
        (VALID_PATIENT.upper(), 30_000_000, replies.PATIENT_MESSAGE_TOO_BIG),
        (PRO, 30_000_000, None),
        (PRO, MAX, None),
    ],
)
def test_declared_size_for_patient_recipients(
    recipient: str, size_param: int | None, reply: Reply | None
) -> None:
    verdict = check_patient_declared(rcpt(recipient, size_param=size_param))
    assert (verdict.reply if verdict else None) is reply


@pytest.mark.parametrize(
    ("recipients", "size", "general", "patient"),
    [
        ((PRO,), 30_000_000, None, None),
        ((PRO,), MAX, None, None),
        ((PRO,), MAX + 1, replies.MESSAGE_TOO_BIG, None),
        ((VALID_PATIENT,), PATIENT_MAX, None, None),
        ((VALID_PATIENT,), PATIENT_MAX + 1, None, replies.PATIENT_MESSAGE_TOO_BIG),
        ((PRO, VALID_PATIENT), 30_000_000, None, replies.PATIENT_MESSAGE_TOO_BIG),
        ((PRO, VALID_PATIENT), 1_000_000, None, None),
        ((VALID_PATIENT,), MAX + 1, replies.MESSAGE_TOO_BIG, replies.PATIENT_MESSAGE_TOO_BIG),
    ],
)
def test_actual_size_at_data(
    recipients: tuple[str, ...], size: int, general: Reply | None, patient: Reply | None
) -> None:
    ctx = data(recipients=recipients, size=size)
    general_verdict, patient_verdict = check_actual(ctx), check_patient_actual(ctx)
    assert (general_verdict.reply if general_verdict else None) is general
    assert (patient_verdict.reply if patient_verdict else None) is patient


def test_limits_come_from_the_configuration() -> None:
    limits = PolicyLimits(max_message_size=1_000, patient_max_message_size=500)
    assert check_declared(mail(size_param=1_001, limits=limits)) is not None
    assert check_patient_declared(rcpt(VALID_PATIENT, size_param=501, limits=limits)) is not None
    assert check_actual(data(size=1_000, limits=limits)) is None


@pytest.mark.parametrize(
    ("case", "stage", "ctx", "line"),
    [
        (
            "T20 declared",
            Stage.RCPT,
            rcpt(VALID_PATIENT, size_param=30_000_000),
            "552 5.3.4 Message too big for Mon Espace Sante",
        ),
        (
            "T20 actual",
            Stage.DATA,
            data(
                recipients=(VALID_PATIENT,),
                size=30_000_000,
                headers=(("From", "dr.x@op-a.mssante.fr"),),
            ),
            "552 5.3.4 Message too big for Mon Espace Sante",
        ),
        (
            "T21 declared",
            Stage.MAIL,
            mail(size_param=MAX + 1),
            "552 5.3.4 Message size exceeds fixed maximum message size",
        ),
        (
            "T21 actual",
            Stage.DATA,
            data(size=MAX + 1),
            "552 5.3.4 Message size exceeds fixed maximum message size",
        ),
        ("T22 mixed", Stage.DATA, data(recipients=(VALID_PATIENT, PRO), size=10_000), None),
    ],
)
def test_acceptance_cases(case: str, stage: Stage, ctx: object, line: str | None) -> None:
    outcome = PolicyEngine(DEFAULT_RULES).evaluate(stage, ctx)
    assert (reply.line() if (reply := answer(outcome)) else None) == line, case
