"""The policy engine: runs a stage's rules in order and folds their verdicts.

Owns: `Mode`, `RuleSpec`, `Outcome`, `PolicyEngine` and `resolve_modes`.

How a stage is evaluated (`PolicyEngine.evaluate(stage, ctx)`):
- the stage's rules run in registry order; rules in mode OFF are not run;
- a verdict with action ACCEPT is an audit *note*, kept in `Outcome.notes`
  whatever the rule's mode;
- a REJECT/TEMPFAIL verdict from a rule in mode WARN goes to
  `Outcome.warnings` ("would refuse"), and evaluation goes on;
- from a rule in mode ENFORCE, the first REJECT/TEMPFAIL ends the evaluation
  and becomes `Outcome.verdict`; with `soft_bounce`, a REJECT becomes a
  TEMPFAIL with the 4xx form of its reply (warnings keep their original reply).

What the engine returns: an `Outcome` whose `verdict` is None (accept) or a
REJECT/TEMPFAIL verdict to answer with, plus the notes and warnings to audit.
Every verdict lands in exactly one of the three, and the gateway acts on all
three (refuses, audits "would refuse", audits the note).

Invariants: the engine does no I/O and keeps no state between calls (safe to
share between sessions and to swap on reload); a rule that raises is a bug and
its exception propagates, for the gateway's single reply point to answer
`LOCAL_ERROR` (451 4.3.0) and log the traceback. Rule names are the keys of
the `modes` mapping; a name may appear at several stages (e.g. `message_size`
at MAIL and DATA) and then one mode governs all of them.

Ref: docs/architecture.md "Conventions" 1, 2, 4, 6; Postfix `warn_if_reject`, `soft_bounce`;
RFC 5321 4.2.5 (reply after DATA).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from .context import STAGE_CONTEXT, Stage
from .verdict import Action, Verdict

Check = Callable[[Any], "Verdict | None"]


class Mode(Enum):
    """Per-rule mode: enforce, warn (log "would refuse", accept) or off (not run)."""

    ENFORCE = "enforce"
    WARN = "warn"
    OFF = "off"


@dataclass(frozen=True)
class RuleSpec:
    """A named rule registered for one stage, with its default mode."""

    name: str
    stage: Stage
    check: Check
    default_mode: Mode = Mode.ENFORCE


@dataclass(frozen=True)
class Outcome:
    """What a stage evaluation decided.

    `verdict` is None (accept) or the enforced REJECT/TEMPFAIL verdict to answer
    with; `warnings` are refusals of rules in mode WARN; `notes` are ACCEPT verdicts.
    """

    verdict: Verdict | None = None
    warnings: tuple[Verdict, ...] = ()
    notes: tuple[Verdict, ...] = ()

    @property
    def refused(self) -> bool:
        """True when the client must get the verdict's reply (4xx/5xx) instead of a 2xx."""
        return self.verdict is not None and self.verdict.refuses


def resolve_modes(
    rules: Sequence[RuleSpec], modes: Mapping[str, Mode | str] | None = None
) -> dict[str, Mode]:
    """Every rule name -> its mode: defaults overridden by `modes`.

    `modes` values may be `Mode` members or their strings ("enforce", "warn",
    "off"). An unknown rule name or mode raises ValueError naming it.
    """
    resolved = _default_modes(rules)
    for name, mode in (modes or {}).items():
        if name not in resolved:
            known = ", ".join(sorted(resolved))
            raise ValueError(f"unknown policy rule {name!r} (known rules: {known})")
        resolved[name] = _as_mode(name, mode)
    return resolved


class PolicyEngine:
    """Evaluates rules per stage with per-rule modes and an optional soft bounce."""

    def __init__(
        self,
        rules: Sequence[RuleSpec],
        modes: Mapping[str, Mode | str] | None = None,
        soft_bounce: bool = False,
    ) -> None:
        _check_unique(rules)
        self._modes = resolve_modes(rules, modes)
        self.soft_bounce = soft_bounce
        self._plan = {
            stage: tuple(
                (spec, self._modes[spec.name])
                for spec in rules
                if spec.stage is stage and self._modes[spec.name] is not Mode.OFF
            )
            for stage in Stage
        }

    @property
    def modes(self) -> Mapping[str, Mode]:
        """The mode in force for each rule name (for logs and `mss doctor`)."""
        return dict(self._modes)

    def evaluate(self, stage: Stage, ctx: object) -> Outcome:
        """Run `stage`'s rules on `ctx` (the context type `STAGE_CONTEXT[stage]`)."""
        _check_context(stage, ctx)
        decided: Verdict | None = None
        warnings: list[Verdict] = []
        notes: list[Verdict] = []
        for spec, mode in self._plan[stage]:
            verdict = spec.check(ctx)
            if verdict is None:
                continue
            verdict = _named(verdict, spec.name)
            if verdict.action is Action.ACCEPT:
                notes.append(verdict)
            elif mode is Mode.WARN:
                warnings.append(verdict)
            else:
                decided = self._soften(verdict)
                break
        return Outcome(decided, tuple(warnings), tuple(notes))

    def _soften(self, verdict: Verdict) -> Verdict:
        if not self.soft_bounce or verdict.action is not Action.REJECT or not verdict.reply:
            return verdict
        return dataclasses.replace(
            verdict,
            action=Action.TEMPFAIL,
            reply=verdict.reply.soft(),
            reason=f"{verdict.reason} [soft_bounce]",
        )


def _default_modes(rules: Sequence[RuleSpec]) -> dict[str, Mode]:
    modes: dict[str, Mode] = {}
    for spec in rules:
        if modes.setdefault(spec.name, spec.default_mode) is not spec.default_mode:
            raise ValueError(f"rule {spec.name!r} has different default modes per stage")
    return modes


def _as_mode(name: str, mode: Mode | str) -> Mode:
    if isinstance(mode, Mode):
        return mode
    try:
        return Mode(str(mode).strip().lower())
    except ValueError:
        allowed = ", ".join(m.value for m in Mode)
        raise ValueError(f"policy rule {name!r}: mode {mode!r} is not one of {allowed}") from None


def _check_unique(rules: Sequence[RuleSpec]) -> None:
    seen: set[tuple[str, Stage]] = set()
    for spec in rules:
        if (spec.name, spec.stage) in seen:
            raise ValueError(f"rule {spec.name!r} registered twice for {spec.stage.value}")
        seen.add((spec.name, spec.stage))


def _check_context(stage: Stage, ctx: object) -> None:
    expected = STAGE_CONTEXT[stage]
    if not isinstance(ctx, expected):
        got = type(ctx).__name__
        raise TypeError(f"{stage.value} rules need a {expected.__name__}, got {got}")


def _named(verdict: Verdict, name: str) -> Verdict:
    return verdict if verdict.rule == name else dataclasses.replace(verdict, rule=name)
