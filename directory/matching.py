"""Matching query words against the directory's posting lists and local tokens.

Owns: `plan_words(query)` (the words a query searches, and how), the per-word
score maps (`imported_scores`, `local_scores`) and `combine` (entries that
match every word, with the sum of their best per-word scores).

Invariants:
- A word of 3 characters or more matches every token it begins ("lef" finds
  "lefevre", "lefebvre"); a 2-character word matches only itself; an address
  query matches that address's token only.
- An entry scores, per word, the best weight over the tokens it matched
  (`text.WEIGHTS`: exact above prefix, RPPS above name above place);
  an entry must match every word of the query.
- A 12-digit "Identification nationale PP" (8 or 0 + identifier) is searched
  as the identifier it carries.

Ref: R14 (search by RPPS, name, profession, place).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from . import text as dt
from .models import DirectoryLocalToken, DirectoryPosting
from .rows import FIELD_BITS, FIELD_MASK, unpack

MAX_WORDS = 6
PREFIX_MIN = 3
Scores = dict[int, int]


@dataclass(frozen=True)
class Word:
    """One query word: every token it begins (prefix), or `token == text` (exact)."""

    text: str
    exact: bool = False

    def matches(self, column: Any) -> ColumnElement[bool]:
        """The indexed condition on a token column."""
        if self.exact:
            same: ColumnElement[bool] = column == self.text
            return same
        return and_(column >= self.text, column < dt.prefix_end(self.text))


def plan_words(query: str) -> tuple[Word, ...]:
    """The words of a query, folded like indexed values (empty when nothing usable)."""
    found = []
    for word in dt.query_words(query, MAX_WORDS):
        if len(word) == 12 and word.isdigit() and word[0] in "08":
            word = word[1:]
        found.append(Word(word, exact=len(word) < PREFIX_MIN))
    return tuple(found)


def address_word(address: str) -> Word:
    """The exact token of a BAL address."""
    return Word(dt.ADDRESS_MARK + address.strip().lower(), exact=True)


def _score(word: Word, token: str, field: int) -> int:
    exact, prefix = dt.WEIGHTS[field]
    return exact if token == word.text else prefix


def _per_word(plan: Sequence[Word], branch: Callable[[int, Word], Select[*tuple[Any, ...]]]) -> Any:
    """One statement: a UNION ALL of one indexed range scan per word (column 0 = word)."""
    return union_all(*(branch(i, w) for i, w in enumerate(plan)))


async def imported_scores(s: AsyncSession, version: int, segments: int,
                          plan: Sequence[Word]) -> list[Scores]:
    """Per query word, entry_no -> best score, in one imported version."""
    p = DirectoryPosting

    def branch(i: int, w: Word) -> Select[*tuple[Any, ...]]:
        return select(literal(i), p.token, p.postings).where(
            p.version_id == version, p.segment.in_(range(segments)), w.matches(p.token))

    per_word: list[Scores] = [{} for _ in plan]
    for index, token, blob in await s.execute(_per_word(plan, branch)):
        weights = [_score(plan[index], token, f) for f in range(len(dt.WEIGHTS))]
        scores = per_word[index]
        for packed in unpack(blob):
            entry, score = packed >> FIELD_BITS, weights[packed & FIELD_MASK]
            if score > scores.get(entry, 0):
                scores[entry] = score
    return per_word


async def local_scores(s: AsyncSession, plan: Sequence[Word]) -> list[Scores]:
    """Per query word, bal_id -> best score among local published BALs."""
    t = DirectoryLocalToken

    def branch(i: int, w: Word) -> Select[*tuple[Any, ...]]:
        return select(literal(i), t.bal_id, t.token, t.field).where(w.matches(t.token))

    per_word: list[Scores] = [{} for _ in plan]
    for index, bal_id, token, field in await s.execute(_per_word(plan, branch)):
        score = _score(plan[index], token, field)
        if score > per_word[index].get(bal_id, 0):
            per_word[index][bal_id] = score
    return per_word


def combine(per_word: Sequence[Scores]) -> Scores:
    """Entries present for every word, with the sum of their scores."""
    if not per_word or not all(per_word):
        return {}
    ordered = sorted(per_word, key=len)
    keys = set(ordered[0])
    for scores in ordered[1:]:
        keys.intersection_update(scores)
    return {k: sum(scores[k] for scores in per_word) for k in keys}
