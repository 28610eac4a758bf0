"""The CRL cache written by `crl-refresh` (R6): concurrent refreshes of one source.

The exchange's start and the scheduler's job (and each worker process) may refresh
the same source at the same moment; each must succeed and leave one good copy.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509

from server.crl import CrlResult, cache_path, refresh_crls
from tests.exchange_support import DOMAIN_B, Pki, free_port, make_peer


async def test_concurrent_refreshes_of_one_source_all_succeed(tmp_path: Path) -> None:
    pki = Pki.create(tmp_path / "pki")
    source = pki.crl([], tmp_path / "pki" / "ca.crl.pem")
    op = await make_peer(tmp_path, pki, DOMAIN_B, mx_port=free_port(), crl=source)
    cfg = op.cfg
    cached = cache_path(cfg, str(source))
    threads = 8
    barrier = threading.Barrier(threads)

    def refresh(_: int) -> list[CrlResult]:
        barrier.wait()
        return refresh_crls(cfg, datetime.now(UTC))

    for _round in range(5):
        cached.unlink(missing_ok=True)  # so that every thread writes the copy
        with ThreadPoolExecutor(threads) as pool:
            results = [r for rs in pool.map(refresh, range(threads)) for r in rs]
        assert [r.ok for r in results] == [True] * threads, [r.message for r in results]
        assert x509.load_pem_x509_crl(cached.read_bytes()).issuer.rfc4514_string()
        assert sorted(p.name for p in cached.parent.iterdir()) == [cached.name]
