"""MSSanté document messages end to end, the outbound queue, and trust-list refresh.

Ref: R1 (keep the last good list), R19 (X-MSS-* byte-identical), R20
(IHE_XDM.ZIP untouched); T9, T10, T24.
"""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import zipfile
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import text

from tests.integration.helpers import fetch_all, send, strip_trace
from tests.protocol.conftest import running_operator
from tests.support import REAL_TRUST_LIST

TRUSTED_REMOTE = "dr.y@mssante.apicrypt.org"


def xdm_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("INDEX.HTM", "<html>index</html>")
        z.writestr("README.TXT", "IHE XDM")
        z.writestr("IHE_XDM/SUBSET01/METADATA.XML", "<Submission patientId='185057512345673'/>")
        z.writestr("IHE_XDM/SUBSET01/DOC0001.XML", "<ClinicalDocument/>")
    return buf.getvalue()


def document_message(sender: str, to: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"] = sender, to
    msg["Subject"] = "XDM/1.0/DDM+Compte rendu DUPONT Jean 19700101"
    msg["Message-ID"] = "<xdm-1@lps.test>"
    msg["X-MSS-NIL"] = "DEV935997"
    msg["X-MSS-CODECDA"] = "34112-3"
    msg["X-MSS-INS"] = "O"
    msg.set_content("Veuillez trouver ci-joint le compte rendu.\n")
    msg.add_attachment(xdm_zip(), maintype="application", subtype="zip",
                       filename="IHE_XDM.ZIP")
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


async def test_document_message_local_byte_identical_and_remote_queued(tmp_path: Path) -> None:
    async with running_operator(tmp_path) as op:
        alice, bob = await op.add_bal("alice"), await op.add_bal("bob")
        message = document_message(alice, bob)
        assert await send(op, alice, [bob, TRUSTED_REMOTE], message) == {}
        stored = await fetch_all(op, bob)
        _trace, original = strip_trace(stored[1])
        assert original == message
        async with op.running.services.db.read() as s:  # type: ignore[union-attr]
            nils = (await s.execute(text("SELECT mss_nil FROM message_content"))).scalars().all()
        assert set(nils) == {"DEV935997"}
        delivered = await op.audit_rows("delivery.local")
        assert delivered[0]["x_mss_nil"] == "DEV935997"
        await op.stop()
        await op.start()
        async with op.running.services.db.read() as s:  # type: ignore[union-attr]
            rows = (await s.execute(text(
                "SELECT q.domain, q.recipients, q.content_id, c.bal_id, c.key_version, c.body "
                "FROM outbound_queue q JOIN message_content c ON c.id = q.content_id"))).all()
            assert [(r[0], r[1]) for r in rows] == [("mssante.apicrypt.org", TRUSTED_REMOTE)]
            domain, _, cid, bal_id, version, body = rows[0]
            key = await op.running.services.keys.get(s, bal_id, version)  # type: ignore[union-attr]
        queued = key.open(cid, bytes(body))
        assert strip_trace(queued)[1] == message
        assert bal_id == op.bals[alice].bal_id


async def test_refresh_from_truncated_file_keeps_previous_version(tmp_path: Path) -> None:
    real = REAL_TRUST_LIST.read_bytes()
    broken = tmp_path / "broken.xml"
    broken.write_bytes(real[: len(real) // 2])
    async with running_operator(tmp_path, trust_list=True) as op:
        cfg_path = op.directory / "mss.toml"
        text_ = cfg_path.read_text().replace('source = ""', f'source = "{broken}"')
        cfg_path.write_text(text_)
        before = await op.running.services.trust.store.latest_id()  # type: ignore[union-attr]
        env = {**os.environ, "MSS_CONFIG": str(cfg_path)}
        done = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "server.cli", "jobs", "run",
                             "trustlist-refresh"], env=env, capture_output=True, text=True)
        assert done.returncode == 1, done.stdout + done.stderr
        assert "previous version kept" in done.stdout
        assert await op.running.services.trust.store.latest_id() == before  # type: ignore
        assert await op.running.services.trust.refresh() is False  # type: ignore[union-attr]
        current = op.running.services.trust.current  # type: ignore[union-attr]
        assert current is not None and current.is_trusted("mssante.apicrypt.org")
        good = tmp_path / "good.xml"
        good.write_bytes(real)
        cfg_path.write_text(text_.replace(str(broken), str(good)))
        done = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "server.cli", "jobs", "run",
                             "trustlist-refresh"], env=env, capture_output=True, text=True)
        assert done.returncode == 0 and "unchanged" in done.stdout, done.stdout + done.stderr


async def test_cli_import_picked_up_by_running_server(tmp_path: Path) -> None:
    async with running_operator(tmp_path, trust_list=False) as op:
        trust = op.running.services.trust  # type: ignore[union-attr]
        trust.poll_seconds = 0.5
        await trust.stop()
        trust.start_polling()
        assert trust.current is None
        env = {**os.environ, "MSS_CONFIG": str(op.directory / "mss.toml")}
        done = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "server.cli", "trustlist", "import",
                             str(REAL_TRUST_LIST)], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        for _ in range(50):
            if trust.current is not None:
                break
            await asyncio.sleep(0.1)
        assert trust.current is not None and trust.current.is_trusted("PATIENT.MSSANTE.FR")
        show = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "server.cli", "--json", "trustlist", "show",
                             "mssante.fr.evil.com"], env=env, capture_output=True, text=True)
        assert show.returncode == 1 and '"trusted": false' in show.stdout
