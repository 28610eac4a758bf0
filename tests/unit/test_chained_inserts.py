"""`group_commit.chained_inserts`: several single-row INSERT templates as one statement.

Ref: PostgreSQL "WITH Queries" (data-modifying statements in WITH).
"""

from __future__ import annotations

import pytest

from imap_store.store.group_commit import chained_inserts

A = "INSERT INTO a (x, y) VALUES ($1, $2)"
B = "INSERT INTO b (z) VALUES ($1) ON CONFLICT DO NOTHING"


def test_parts_become_with_queries_and_the_last_the_main_statement() -> None:
    sql, args = chained_inserts([(A, [(1, "p"), (2, "q")]), (B, [("r",)])])
    assert sql == ("WITH w0 AS (INSERT INTO a (x, y) VALUES ($1, $2), ($3, $4)) "
                   "INSERT INTO b (z) VALUES ($5) ON CONFLICT DO NOTHING")
    assert args == [1, "p", 2, "q", "r"]


def test_one_part_is_a_multi_row_insert() -> None:
    assert chained_inserts([(A, [(1, "p")])]) == ("INSERT INTO a (x, y) VALUES ($1, $2)",
                                                  [1, "p"])


@pytest.mark.parametrize("parts", [
    [("UPDATE a SET x = $1", [(1,)])],           # not an INSERT ... VALUES template
    [(A, [(1,)])],                               # a row narrower than its template
])
def test_what_it_cannot_chain_is_refused(parts: list) -> None:
    with pytest.raises(ValueError):
        chained_inserts(parts)
