"""The decoded-meta cache of `MetaReader` and the rendered ENVELOPE / BODYSTRUCTURE cache.

Ref: RFC 3501 7.4.2 (ENVELOPE, BODYSTRUCTURE).
"""

from __future__ import annotations

from imap_store.imap.render.envelope import envelope_value
from imap_store.imap.render.fetch_items import _envelope
from imap_store.imap.render.response import render_value
from imap_store.store import meta_reader
from imap_store.store.meta_reader import MetaReader
from message.meta import compute_meta

RAW = (b"From: A <a@x.mssante.fr>\r\nTo: b@y.mssante.fr\r\nSubject: s\r\n"
       b"Message-ID: <1@x>\r\n\r\nbody\r\n")


def test_cache_is_bounded_by_octets_and_drops_the_least_recent(monkeypatch) -> None:
    monkeypatch.setattr(meta_reader, "META_CACHE_OCTETS", 300)
    reader = MetaReader(db=None, keys=None)  # type: ignore[arg-type]
    meta = compute_meta(RAW)
    for i in range(3):
        reader._keep((1, f"c{i}", 1), bytes(100), meta)
    assert reader._cached_octets == 300 and len(reader._cache) == 3
    reader._cache.move_to_end((1, "c0", 1))  # c0 used again: c1 is now the oldest
    reader._keep((1, "c3", 1), bytes(100), meta)
    assert list(reader._cache) == [(1, "c2", 1), (1, "c0", 1), (1, "c3", 1)]
    assert reader._cached_octets == 300
    reader._keep((1, "c2", 1), bytes(50), meta)  # the same key again: counted once
    assert reader._cached_octets == 250 and len(reader._cache) == 3


def test_rendered_envelope_is_the_uncached_rendering_and_depends_on_the_value() -> None:
    one = compute_meta(RAW)
    other = compute_meta(RAW.replace(b"Subject: s", b"Subject: t"))
    assert _envelope(one.envelope).data == render_value(envelope_value(one.envelope))
    # kept on the value: the same value gives the same rendering without redoing it
    assert _envelope(one.envelope) is _envelope(one.envelope)
    # an equal value decoded again renders the same octets, and stays equal to the first
    again = compute_meta(RAW)
    assert _envelope(again.envelope).data == _envelope(one.envelope).data
    assert again == one and hash(again.envelope) == hash(one.envelope)
    assert _envelope(other.envelope).data == render_value(envelope_value(other.envelope))
    assert _envelope(other.envelope).data != _envelope(one.envelope).data


def test_append_leaves_its_metas_decoded_for_the_first_fetch() -> None:
    """`remember` (APPEND) files a meta under the same key and octets a read of its row
    would bring, so the first FETCH finds it without decrypting; another BAL's key or
    other octets never match."""
    reader = MetaReader(db=None, keys=None)  # type: ignore[arg-type]
    meta = compute_meta(RAW)
    reader.remember(7, "c1", 2, b"sealed", meta)
    assert reader._cache[(7, "c1", 2)] == (b"sealed", meta)
    assert (8, "c1", 2) not in reader._cache and reader._cached_octets == len(b"sealed")
