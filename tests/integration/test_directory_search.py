"""Directory search over the imported sample and local BALs: homonyms, accents, RPPS,
ranking, liste rouge, publication and its outbox (R12, R13, R14)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import delete, update

from directory.local_entries import LOCAL_ENTRIES
from directory.models import DirectoryEntry, DirectoryLocalToken
from directory.service import QueryError
from directory.text import fold
from imap_store.store.models import Bal
from imap_store.store.publication import (
    mark_sent,
    pending_events,
    republish_state,
    set_published,
)
from tests.protocol.directory_http import SAMPLE, directory, import_file, publish
from tests.support import DOMAIN, Operator

HEADER, *ROWS = SAMPLE.read_bytes().splitlines(keepends=True)
LEROY_RPPS = "10450047120"


async def _search(op: Operator, query: str, limit: int = 50) -> list:
    return (await directory(op).search(query, limit)).results


async def _set(op: Operator, address: str, **values: object) -> None:
    assert op.running is not None
    async with op.running.services.db.write() as s:
        await s.execute(update(Bal).where(Bal.address == address).values(**values))


async def test_homonyms_in_the_sample_are_marked(operator: Operator) -> None:
    await import_file(operator)
    found = await _search(operator, "martinez pierre")
    assert len(found) == 3 and len({r.rpps for r in found}) == 3
    assert all(r.homonym and r.namesakes == 3 for r in found)
    assert {(r.profession, r.city) for r in found} == {
        ("Médecin", "TOULOUSE"), ("Chirurgien-Dentiste", "TOULOUSE"), ("Sage-Femme", "BREST")}
    single = await _search(operator, "10077777868")
    assert [r.last_name for r in single] == ["DUPONT"]
    unique = await _search(operator, "andre isabelle")
    assert [(r.last_name, r.homonym, r.namesakes) for r in unique] == [("ANDRÉ", False, 1)]
    thomas = await _search(operator, "Thomas")
    shared = {r.first_name for r in thomas if r.homonym}
    assert "Catherine" in shared


@pytest.mark.parametrize("query", ["lefevre", "LEFEVRE", "Lefèvre", "LEFÈVRE", "lefèvre"])
async def test_search_ignores_case_and_accents(operator: Operator, query: str) -> None:
    await import_file(operator)
    found = await _search(operator, query)
    assert len(found) == 7 and {r.last_name for r in found} == {"LEFÈVRE"}


async def test_search_by_rpps_returns_exactly_that_persons_bals(operator: Operator) -> None:
    await import_file(operator)
    mine = await operator.add_bal("dr.leroy")
    await _set(operator, mine, rpps=LEROY_RPPS)
    await publish(operator, mine)
    for query in (LEROY_RPPS, "8" + LEROY_RPPS):
        found = await _search(operator, query)
        assert sorted((r.address, r.rpps, r.source) for r in found) == [
            ("catherine.leroy@aphp.mssante.fr", LEROY_RPPS, "annuaire"),
            (mine, LEROY_RPPS, "local")]
    local = next(r for r in await _search(operator, "leroy cardiologie") if r.source == "local")
    assert (local.last_name, local.city) == ("LEROY", "PARIS"), "national data borrowed"
    same_person = await _search(operator, LEROY_RPPS)
    assert all(r.namesakes == 2 for r in same_person), "two Catherine Leroy, not three"


@pytest.mark.parametrize(("query", "check"), [
    ("lef", lambda r: r.last_name.startswith("LEF")),
    ("Zoé", lambda r: r.first_name == "Zoé"),
    ("cardiologie", lambda r: "cardiologie" in fold(r.specialty or r.service or "")),
    ("kinesitherapeute", lambda r: r.profession == "Masseur-Kinésithérapeute"),
    ("20000", lambda r: r.postcode == "20000"),
    ("ajaccio", lambda r: r.city == "AJACCIO"),
    ("saint denis", lambda r: r.city == "SAINT DENIS"),
    ("pharmacie usage interieur", lambda r: r.bal_type == "ORG"),
    ("ndiaye", lambda r: r.last_name == "N'DIAYE"),
    ("medecin bastia", lambda r: r.profession == "Médecin" and r.city == "BASTIA"),
])
async def test_search_fields(operator: Operator, query: str, check: object) -> None:
    await import_file(operator)
    found = await _search(operator, query)
    assert found and all(check(r) for r in found), [(r.address, r.last_name) for r in found]


async def test_exact_name_ranks_before_prefix(operator: Operator) -> None:
    await import_file(operator)
    found = await _search(operator, "martin")
    names = [r.last_name for r in found]
    assert names[0] == "MARTIN" and "MARTINEZ" in names
    assert names.index("MARTINEZ") > max(i for i, n in enumerate(names) if n == "MARTIN")


async def test_two_letter_words_match_exactly(operator: Operator) -> None:
    await import_file(operator)
    assert await _search(operator, "ab dupont") == []
    assert len(await _search(operator, "dupont")) > 1


async def test_queries_without_words_are_refused(operator: Operator) -> None:
    for query in ("", "  ", "de la", "a"):
        with pytest.raises(QueryError):
            await directory(operator).search(query)


async def test_liste_rouge_never_appears(operator: Operator, tmp_path: Path) -> None:
    mine = await operator.add_bal("dr.secret")
    await _set(operator, mine, rpps="10999999999", display_name="Secret Person")
    ours = ROWS[0].replace(b"jean.dupont@aphp.mssante.fr", mine.encode())
    path = tmp_path / "with-ours.txt"
    path.write_bytes(HEADER + ours + b"".join(ROWS[1:]))
    await import_file(operator, path)
    await publish(operator, mine)
    assert [r.source for r in await _search(operator, mine)] == ["annuaire+local"]
    assert operator.running is not None
    await operator.running.services.accounts.set_metadata(mine, {"liste_rouge": True})
    async with operator.running.services.db.write() as s:
        await republish_state(s, operator.bals[mine].bal_id, "liste_rouge", datetime.now(UTC),
                              LOCAL_ENTRIES)
    assert not await publish(operator, mine, True), "liste rouge is never published"
    info = await operator.running.services.accounts.get(mine)
    assert info is not None and (info.liste_rouge, info.published) == (True, False)
    for query in (mine, "10999999999", "secret", "dupont jean", "97400"):
        assert mine not in {r.address for r in await _search(operator, query)}, query


async def test_unpublished_local_bal_is_not_found_then_is(operator: Operator) -> None:
    mine = await operator.add_bal("cardio", "ORG")
    await _set(operator, mine, description="Secrétariat de cardiologie", service="Cardiologie")
    await publish(operator, mine, False)
    assert mine not in {r.address for r in await _search(operator, "secretariat")}
    await publish(operator, mine, True)
    found = await _search(operator, "secrétariat cardiologie")
    assert [(r.address, r.source, r.service) for r in found] == [
        (mine, "local", "Cardiologie")]
    assert operator.running is not None
    await operator.running.services.accounts.set_status(mine, "suspended")
    assert mine not in {r.address for r in await _search(operator, "secretariat")}


async def test_publication_changes_write_outbox_events(operator: Operator) -> None:
    bob = await operator.add_bal("bob")
    assert operator.running is not None
    db = operator.running.services.db
    await publish(operator, bob, False, "setup")
    async with db.write() as s:
        before = {e.id for e in await pending_events(s, 1000)}
    assert not await publish(operator, bob, False, "again"), "no change, no event"
    assert await publish(operator, bob, False, "x") is False
    assert await publish(operator, bob, True, "republished")
    assert await publish(operator, bob, False, "suspended")
    async with db.write() as s:
        new = [e for e in await pending_events(s, 1000) if e.id not in before]
        assert [(e.address, e.published, e.reason) for e in new] == [
            (bob, True, "republished"), (bob, False, "suspended")]
        assert await mark_sent(s, [e.id for e in new], datetime.now(UTC)) == 2
    async with db.read() as s:
        assert not {e.id for e in await pending_events(s, 1000)} - before
    info = await operator.running.services.accounts.get(bob)
    assert info is not None and info.published is False


async def test_republish_state_unpublishes_on_liste_rouge_with_an_event(
        operator: Operator) -> None:
    bob = await operator.add_bal("bob")
    await publish(operator, bob, True)
    await _set(operator, bob, liste_rouge=True)
    assert operator.running is not None
    db = operator.running.services.db
    async with db.write() as s:
        assert await republish_state(s, operator.bals[bob].bal_id, "liste_rouge",
                                     datetime.now(UTC), LOCAL_ENTRIES)
        assert not await republish_state(s, operator.bals[bob].bal_id, "again",
                                         datetime.now(UTC), LOCAL_ENTRIES)
        last = (await pending_events(s, 1000))[-1]
    assert (last.address, last.published, last.reason) == (bob, False, "liste_rouge")
    assert bob not in {r.address for r in await _search(operator, bob)}


async def test_set_published_on_unknown_bal_raises(operator: Operator) -> None:
    assert operator.running is not None
    async with operator.running.services.db.write() as s:
        with pytest.raises(LookupError):
            await set_published(s, 987654, True, "x", datetime.now(UTC), LOCAL_ENTRIES)


async def test_deleting_a_bal_removes_it_from_search(operator: Operator) -> None:
    mine = await operator.add_bal("gone")
    await _set(operator, mine, display_name="Vanishing Doctor")
    await publish(operator, mine)
    assert [r.address for r in await _search(operator, "vanishing")] == [mine]
    assert operator.running is not None
    await operator.running.services.accounts.delete_bal(mine)
    assert await _search(operator, "vanishing") == []
    assert DOMAIN in mine


async def test_local_entries_are_rebuilt_when_the_server_starts(operator: Operator) -> None:
    mine = await operator.add_bal("older")
    await _set(operator, mine, display_name="Older Practitioner")
    await publish(operator, mine)
    assert operator.running is not None
    async with operator.running.services.db.write() as s:
        await s.execute(delete(DirectoryLocalToken))
        await s.execute(delete(DirectoryEntry).where(DirectoryEntry.version_id == 0))
    assert await _search(operator, "practitioner") == []
    await operator.stop()
    await operator.start()
    for _ in range(100):
        if await _search(operator, "practitioner"):
            break
        await asyncio.sleep(0.05)
    assert [r.address for r in await _search(operator, "practitioner")] == [mine]
