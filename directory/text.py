"""Directory text folding: the one normalisation shared by indexing and search.

Owns: `fold` (case- and accent-insensitive form), `words` (search words of a
value), `name_key` (what makes two people namesakes), the field codes and
their weights used to rank search results.

Invariants:
- Indexing and querying use the same functions, so "lefevre", "LEFÈVRE" and
  "Lefèvre" are one word; tokens only ever contain `[a-z0-9]`, which keeps
  prefix ranges simple under a binary ("C") collation.
- A word shorter than `MIN_WORD` or in `STOPWORDS` is never a token: "de",
  "la", a lone initial. A name written with an apostrophe or hyphen is also
  indexed joined ("N'DIAYE" -> "diaye" and "ndiaye").
- A BAL address is indexed whole as `ADDRESS_MARK + address` ("@dr.x@y.fr"):
  the mark sorts below every letter and above every digit, so no query word
  (always `[a-z0-9]...`) ever reaches an address token by prefix.
- Two people are namesakes when their `name_key`s (folded last and first
  names, spaces and punctuation removed) are equal.

Ref: R14 (search by RPPS, name, profession, place; homonyms).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

MIN_WORD = 2
MAX_WORD = 40
MAX_KEY = 160
STOPWORDS = frozenset({
    "de", "du", "des", "la", "le", "les", "et", "en", "au", "aux", "sur", "pour", "par",
    "dans", "un", "une", "the", "of", "and",
})
_SPECIAL = str.maketrans({"œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae", "ß": "ss",
                          "ø": "o", "Ø": "o", "đ": "d", "Đ": "d", "ł": "l", "Ł": "l"})
_NON_ALNUM = re.compile(r"[^a-z0-9]+")

# Field codes stored with each token, best first (a token keeps its best field).
RPPS, LAST_NAME, FIRST_NAME, ORGANISATION, PROFESSION, SPECIALTY, POSTCODE, CITY = range(8)
ADDRESS = 8
ADDRESS_MARK = "@"
FIELD_NAMES = ("rpps", "last_name", "first_name", "organisation", "profession",
               "specialty", "postcode", "city", "address")
# (exact match, prefix match) weights per field code.
WEIGHTS = ((100, 40), (60, 30), (40, 20), (40, 15), (25, 10), (25, 10), (30, 15), (30, 10),
           (100, 100))


@lru_cache(maxsize=65_536)
def fold(value: str) -> str:
    """Lower case, accents removed, anything but `[a-z0-9]` turned into one space."""
    decomposed = unicodedata.normalize("NFKD", value.translate(_SPECIAL))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _NON_ALNUM.sub(" ", bare.lower()).strip()


def _keep(word: str) -> bool:
    return MIN_WORD <= len(word) <= MAX_WORD and word not in STOPWORDS


@lru_cache(maxsize=32_768)
def words(value: str) -> tuple[str, ...]:
    """The search words of a value, in order, without duplicates."""
    return tuple(dict.fromkeys(w for w in fold(value).split() if _keep(w)))


@lru_cache(maxsize=65_536)
def name_words(value: str) -> tuple[str, ...]:
    """`words`, plus the whole name joined when it has several parts."""
    parts = fold(value).split()
    joined = "".join(parts)
    found = [w for w in parts if _keep(w)]
    if len(parts) > 1 and MIN_WORD <= len(joined) <= MAX_WORD:
        found.append(joined)
    return tuple(dict.fromkeys(found))


@lru_cache(maxsize=4096)
def name_key(last_name: str, first_name: str) -> str | None:
    """The namesake key ("dupont jean-pierre" -> "dupont jeanpierre"), None without a name."""
    last = "".join(fold(last_name).split())
    if not last:
        return None
    return f"{last} {''.join(fold(first_name).split())}"[:MAX_KEY]


def query_words(query: str, limit: int = 6) -> tuple[str, ...]:
    """The words of a search query (at most `limit`), folded like indexed values."""
    return words(query)[:limit]


def prefix_end(word: str) -> str:
    """The smallest string above every string starting with `word` (binary order)."""
    return word[:-1] + chr(ord(word[-1]) + 1)
