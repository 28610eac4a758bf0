"""Attachment check benchmark: the content walk and the attachment rule at end of DATA.

Measures, in-process (the check is CPU work on the message's octets; no socket):

- throughput: the gateway's check of one message, `ContentInspection.files`
  (`message.content_facts.scan_content`: MIME walk, transfer decoding, type
  detection, archives and office documents opened) then the `attachments` rule
  (`policy.attachments.check`), repeated: messages per second, megabytes per
  second, and the median and worst time per message, for
  - a 10 MB message with 20 attachments (8 PDF, 4 JPEG, 2 PNG, 2 DOCX, a DICOM
    image, a CDA, an IHE_XDM.ZIP with a CDA and a PDF, a ZIP of 3 PDF; their
    content random, so it does not compress), base64 as mail clients send it;
  - a 4 KiB text message (no attachment);
- the event-loop stall during the 10 MB check: a probe sleeps 1 ms at a time
  on the event loop and records how late it wakes up, while
  `ContentInspection.files` checks the message (off the loop, in a worker
  thread, as the gateway does); the same with the walk called on the loop,
  for comparison. The process settings are the server's (`tune_process`: a
  1 ms thread switch interval).

    .venv/bin/python bench/attachments_bench.py [--runs 20] [--small-runs 2000]

Prints one JSON object per measure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent.parent))

from message.content_facts import scan_content  # noqa: E402
from message.facts import read_facts  # noqa: E402
from policy.attachments import check  # noqa: E402
from policy.context import DataContext, MailContext, SessionFacts  # noqa: E402
from server.runtime_tuning import tune_process  # noqa: E402
from smtp_gateway.content_check import ContentInspection  # noqa: E402
from tests import attachment_files as f  # noqa: E402

SENDER, RECIPIENT = "dr.x@op-a.mssante.fr", "dr.y@op-a.mssante.fr"
DOCX_T = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _random(size: int) -> bytes:
    return os.urandom(size)


def _pdf(size: int) -> bytes:
    return f.pdf() + b"%" + _random(size)  # a PDF with an incompressible body after it


def _attachments(unit: int) -> list[tuple[str, str, bytes]]:
    files = [(f"cr-{n}.pdf", "application/pdf", _pdf(unit)) for n in range(8)]
    files += [(f"photo-{n}.jpg", "image/jpeg", f.JPEG + _random(unit)) for n in range(4)]
    files += [(f"scan-{n}.png", "image/png", f.PNG + _random(unit // 2)) for n in range(2)]
    files += [(f"lettre-{n}.docx", DOCX_T,
               f.docx(extra=[("word/media/image1.jpeg", f.JPEG + _random(unit // 2))]))
              for n in range(2)]
    files += [("irm.dcm", "application/dicom", f.DICOM + _random(unit)),
              ("cda.xml", "text/xml", f.CDA * 50),
              ("IHE_XDM.ZIP", "application/zip", f.xdm([("DOC0001.XML", f.CDA),
                                                        ("DOC0002.PDF", _pdf(unit))])),
              ("pdfs.zip", "application/zip",
               f.zip_of([(f"{n}.pdf", _pdf(unit // 3)) for n in range(3)]))]
    return files


def big_message(target: int = 10_000_000) -> bytes:
    """About `target` octets on the wire, 20 attachments in base64."""
    unit = 400_000
    raw = f.wire(f.message(SENDER, RECIPIENT, _attachments(unit)))
    unit = int(unit * target / len(raw))
    return f.wire(f.message(SENDER, RECIPIENT, _attachments(unit)))


def small_message(size: int = 4096) -> bytes:
    body = ("Compte rendu de consultation. " * 200)[:size - 300] + "\n"
    return f.wire(f.message(SENDER, RECIPIENT, [], body=body))


def _context(content: bytes) -> Callable[[object], DataContext]:
    mail = MailContext(session=SessionFacts(peer_ip="127.0.0.1", listener="submission",
                                            tls=True, authenticated_bal=SENDER),
                       mail_from=SENDER, local_domains=frozenset({"op-a.mssante.fr"}))
    facts = read_facts(content)

    def build(files: object) -> DataContext:
        return DataContext.from_mail(mail, recipients=(RECIPIENT,), message=facts,
                                     size=len(content), content=files)
    return build


async def throughput(content: bytes, runs: int) -> dict[str, object]:
    inspection, build = ContentInspection(), _context(content)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        files = await inspection.files(content)
        verdict = check(build(files))
        times.append(time.perf_counter() - start)
        assert verdict is None, verdict
    total = sum(times)
    return {"size": len(content), "items": len(files.items), "runs": runs,
            "msg_per_s": round(runs / total, 1),
            "mb_per_s": round(len(content) * runs / total / 1e6, 1),
            "median_ms": round(statistics.median(times) * 1000, 2),
            "max_ms": round(max(times) * 1000, 2)}


async def _probe(stop: asyncio.Event, lags: list[float]) -> None:
    while not stop.is_set():
        start = time.perf_counter()
        await asyncio.sleep(0.001)
        lags.append(time.perf_counter() - start - 0.001)


async def stall(content: bytes, runs: int, on_loop: bool) -> dict[str, object]:
    inspection, lags, stop = ContentInspection(), [], asyncio.Event()
    probe = asyncio.create_task(_probe(stop, lags))
    await asyncio.sleep(0.05)
    idle = len(lags)
    start = time.perf_counter()
    for _ in range(runs):
        if on_loop:
            scan_content(content, inspection.bounds)
            await asyncio.sleep(0)
        else:
            await inspection.files(content)
    elapsed = time.perf_counter() - start
    stop.set()
    await probe
    during = sorted(lags[idle:])
    return {"where": "on the loop" if on_loop else "off the loop (as the gateway)",
            "checks": runs, "check_ms": round(elapsed / runs * 1000, 1),
            "worst_lag_ms": round(during[-1] * 1000, 2),
            "p99_lag_ms": round(during[int(len(during) * 0.99) - 1] * 1000, 2),
            "median_lag_ms": round(statistics.median(during) * 1000, 3),
            "idle_worst_lag_ms": round(max(lags[:idle]) * 1000, 2)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--small-runs", type=int, default=2000)
    args = parser.parse_args()
    tune_process()  # the server's settings (1 ms thread switch interval)
    big, small = big_message(), small_message()
    await throughput(big, 2)  # warm-up: imports, first oletools call
    for name, content, runs in (("10 MB, 20 attachments", big, args.runs),
                                ("4 KiB text", small, args.small_runs)):
        print(json.dumps({"measure": "throughput", "message": name,
                          **await throughput(content, runs)}), flush=True)
    for on_loop in (False, True):
        print(json.dumps({"measure": "loop stall", "message": "10 MB, 20 attachments",
                          **await stall(big, max(args.runs // 2, 3), on_loop)}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
