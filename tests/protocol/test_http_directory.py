"""The directory API over HTTP with real clients: TLS only, BAL credentials or bearer
tokens, JSON results with homonyms, and a re-import that never interrupts searches
(R8, R14)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from tests.protocol.directory_http import (
    HEADER_ROWS,
    basic,
    connect,
    http_operator,
    import_file,
    request,
)
from tests.support import PASSWORD, Operator

TOKEN = "s3cret-directory-token-for-the-lps"
TOKENS = f'[http]\napi_tokens = ["{hashlib.sha256(TOKEN.encode()).hexdigest()}"]\n'
LEROY = "/directory/search?q=10450047120"


async def _http_audit(op: Operator) -> list[tuple[str, str]]:
    assert op.running is not None
    async with op.running.services.db.read() as s:
        # the logins (each TLS session has its own `tls.session` row besides)
        rows = await s.execute(text("SELECT event, bal FROM audit WHERE protocol = 'http' "
                                    "AND event LIKE 'auth.%' ORDER BY id"))
        return [tuple(r) for r in rows.all()]


async def test_plain_http_refuses_the_api_without_reading_credentials(tmp_path: Path) -> None:
    async with http_operator(tmp_path, tls=False) as op:
        bob = await op.add_bal("bob")
        await import_file(op)

        def run() -> list[tuple[int, dict[str, str], bytes]]:
            c = connect(op, tls=False)
            return [request(c, "GET", LEROY, {"Authorization": basic(bob, PASSWORD)}),
                    request(c, "GET", LEROY, {"Authorization": "Bearer " + TOKEN}),
                    request(c, "GET", "/healthz"),
                    request(c, "GET", "/mail/config-v1.1.xml")]

        refused, bearer, health, autoconfig = await asyncio.to_thread(run)
        assert refused[0] == 403 and bearer[0] == 403
        assert "www-authenticate" not in refused[1]
        assert "TLS" in json.loads(refused[2])["error"]
        assert health[0] == 200 and autoconfig[0] == 200
        assert await _http_audit(op) == [], "credentials sent in clear were never checked"


async def test_basic_auth_with_a_bal_over_tls(tmp_path: Path) -> None:
    async with http_operator(tmp_path) as op:
        bob = await op.add_bal("bob")
        await import_file(op)

        def run() -> list[tuple[int, dict[str, str], bytes]]:
            c = connect(op)
            out = [request(c, "GET", LEROY),
                   request(c, "GET", LEROY, {"Authorization": basic(bob, "wrong password!")})]
            good = {"Authorization": basic(bob, PASSWORD)}
            out += [request(c, "GET", "/directory/search?q=martinez+pierre&limit=10", good),
                    request(c, "GET", LEROY, good)]
            return out

        anonymous, wrong, homonyms, by_rpps = await asyncio.to_thread(run)
        assert anonymous[0] == 401 and anonymous[1]["www-authenticate"].startswith("Basic ")
        assert wrong[0] == 401
        body = json.loads(homonyms[2])
        assert homonyms[0] == 200 and body["count"] == 3
        assert all(r["homonym"] and r["namesakes"] == 3 for r in body["results"])
        result = json.loads(by_rpps[2])["results"]
        assert [r["address"] for r in result] == ["catherine.leroy@aphp.mssante.fr"]
        for key in ("address", "bal_type", "rpps", "profession", "specialty", "structure",
                    "city"):
            assert result[0][key], key
        assert await _http_audit(op) == [("auth.failure", bob), ("auth.success", bob)], \
            "one login for two searches on one connection"


async def test_bearer_token_and_bad_parameters(tmp_path: Path) -> None:
    async with http_operator(tmp_path, extra_toml=TOKENS) as op:
        await import_file(op)

        def run() -> list[tuple[int, dict[str, str], bytes]]:
            c = connect(op)
            ok = {"Authorization": "Bearer " + TOKEN}
            return [request(c, "GET", "/directory/search?q=lef%C3%A8vre", ok),
                    request(c, "GET", LEROY, {"Authorization": "Bearer not-the-token"}),
                    request(c, "GET", "/directory/search?q=de+la", ok),
                    request(c, "GET", "/directory/search?q=x&limit=0", ok),
                    request(c, "GET", "/directory/search?q=" + "a" * 300, ok)]

        found, wrong, no_words, bad_limit, too_long = await asyncio.to_thread(run)
        assert found[0] == 200 and json.loads(found[2])["count"] == 7
        assert wrong[0] == 401
        assert (no_words[0], bad_limit[0], too_long[0]) == (400, 400, 400)


def _bigger_sample(path: Path, copies: int) -> None:
    """The sample, plus `copies` renamed copies of its rows (Leroy stays unique)."""
    header, rows = HEADER_ROWS
    with path.open("wb") as out:
        out.write(header + b"".join(rows))
        for n in range(copies):
            for row in rows:
                if b"10450047120" not in row:
                    out.write(row.replace(b"@", f".{n}@".encode(), 1))


async def test_reimport_while_serving_searches_keeps_answering(tmp_path: Path) -> None:
    async with http_operator(tmp_path, extra_toml=TOKENS) as op:
        first = await import_file(op)
        big = tmp_path / "bigger.txt"
        _bigger_sample(big, 60)
        cli = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "server.cli", "--config", str(op.directory / "mss.toml"),
            "--json", "directory", "import", str(big),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ})
        answers: list[tuple[int, int | None, list[str]]] = []

        def search_until_done() -> None:
            c = connect(op)
            while cli.returncode is None or len(answers) < 3:
                status, _h, body = request(c, "GET", LEROY, {"Authorization": "Bearer " + TOKEN})
                data = json.loads(body)
                answers.append((status, data.get("version"),
                                [r["address"] for r in data.get("results", [])]))

        searching = asyncio.create_task(asyncio.to_thread(search_until_done))
        out, err = await cli.communicate()
        await searching
        assert cli.returncode == 0, err.decode()
        report = json.loads(out)
        assert report["lines"] == 301 + 60 * 300 and report["imported"] + report["merged"] + \
            report["rejected"] == report["lines"]
        assert all(a == (200, a[1], ["catherine.leroy@aphp.mssante.fr"]) for a in answers)
        versions = [a[1] for a in answers]
        assert versions[0] == first.version_id and versions[-1] == report["version"]
        assert len(answers) >= 5
