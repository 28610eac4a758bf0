"""Event-loop stall benchmark: IMAP NOOP latency while a 25 MB message is delivered.

Starts an operator in-process the way the tests do (`tests.support`:
`mss init` in a temporary folder, ports 0, SQLite, or the PostgreSQL server of
`MSS_TEST_DATABASE_URL`), creates three BALs, then on the server's own event loop:

- two IMAPS clients (raw asyncio TLS, LOGIN then SELECT INBOX) send `NOOP`
  back to back and time each round trip: one on the INBOX of a BAL that
  receives nothing (its NOOPs wait only for the event loop: the figure of a
  stall), one on the recipient's INBOX (the NOOP that reports the new message
  claims `\\Recent`, a write, and waits for the delivery's commit: reported
  apart, as `inbox_noop_*`);
- a loop-lag probe sleeps 1 ms at a time and records how late it wakes up
  (the longest time the loop ran something else without yielding);
- a child process (smtplib, so the sender's own CPU work stays off this
  process) submits one multipart message of `--size` bytes (a random
  attachment, base64) over submission with STARTTLS + AUTH.

Reports, as one JSON object per run, for the whole delivery (the sender's
DATA command to its reply) and for its two phases: the worst and median NOOP
round trip of each client, the worst loop lag and every lag over 20 ms. "transfer" is DATA
up to the moment the server's intake is called (the message crossing the
wire, aiosmtpd reading it, the handler's checks); "store" is the intake call
itself (trace headers, meta, sealing, the write transaction, commit). The
intake call is timed by wrapping the running server's `Intake.accept`
(instrumentation only); the sender's timestamps are `time.perf_counter()`,
CLOCK_MONOTONIC on Linux, the same clock in both processes. Also reported:
the same figures for the 0.9 s before the DATA command ("idle": the noise of
the machine), the median NOOP before the delivery, DATA-to-reply, intake and session times.
A 100 kB message of the same shape is delivered first (warm-up, not
measured); `--runs N` repeats the measured delivery on the same operator.
`--trace-stalls MS` samples the event-loop thread's stack during stalls.

    .venv/bin/python bench/loop_stall.py [--runs 3] [--size 26214400]

The code measured is the one `import server` finds first: `PYTHONPATH=<tree>`
measures another checkout (the repository root is used otherwise).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import ssl
import statistics
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from email.message import EmailMessage
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent.parent))

import server  # noqa: E402
from tests.support import PASSWORD, Operator, make_operator, serving  # noqa: E402

SENDER_CHILD = r"""
import json, smtplib, ssl, sys, time
port, cafile, login, password, rcpt, path = sys.argv[1:7]
message = open(path, "rb").read()
t0 = time.perf_counter()
ctx = ssl.create_default_context(cafile=cafile)
with smtplib.SMTP("127.0.0.1", int(port), timeout=300) as c:
    c.ehlo("bench.test"); c.starttls(context=ctx); c.ehlo("bench.test")
    c.login(login, password); c.mail(login); c.rcpt(rcpt)
    t1 = time.perf_counter()
    code, _ = c.data(message)
    t2 = time.perf_counter()
print(json.dumps({"code": code, "t_data": t1, "t_reply": t2, "session_s": t2 - t0}))
"""


def big_message(sender: str, rcpt: str, size: int) -> bytes:
    """A multipart message of about `size` octets: a short text and a random attachment
    (a PDF header, then random octets: a type the attachment rule allows)."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, rcpt, "Imagerie"
    msg["Message-ID"] = f"<{secrets.token_hex(8)}@bench.test>"
    msg.set_content("Ci-joint.\n")
    scan = b"%PDF-1.4\n" + os.urandom(max(0, size - 2048) * 57 // 78)
    msg.add_attachment(scan, maintype="application", subtype="pdf", filename="scan.pdf")
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


class ImapNoop:
    """A raw IMAPS client that times NOOP round trips."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer, self.n = reader, writer, 0
        self.samples: list[tuple[float, float]] = []

    @classmethod
    async def open(cls, port: int, ctx: ssl.SSLContext, user: str, password: str) -> ImapNoop:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx,
                                                       server_hostname="localhost")
        client = cls(reader, writer)
        await reader.readline()
        await client.command(f'LOGIN "{user}" "{password}"')
        await client.command("SELECT INBOX")
        return client

    async def command(self, text: str) -> bytes:
        self.n += 1
        tag = f"b{self.n}".encode()
        self.writer.write(tag + b" " + text.encode() + b"\r\n")
        await self.writer.drain()
        while True:
            line = await self.reader.readline()
            if not line:
                raise ConnectionError("IMAP server closed the connection")
            if line.startswith(tag + b" "):
                if not line.startswith(tag + b" OK"):
                    raise RuntimeError(line.decode(errors="replace"))
                return line

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            start = time.perf_counter()
            await self.command("NOOP")
            self.samples.append((start, time.perf_counter() - start))

    async def close(self) -> None:
        await self.command("LOGOUT")
        self.writer.close()


async def lag_probe(stop: asyncio.Event, out: list[tuple[float, float]]) -> None:
    """How late a 1 ms sleep wakes up: the loop's stalls."""
    while not stop.is_set():
        start = time.perf_counter()
        await asyncio.sleep(0.001)
        out.append((start, time.perf_counter() - start - 0.001))


class StallTracer:
    """Which code holds the loop: a watchdog thread samples the main thread's
    stack whenever the loop's heartbeat is older than `threshold` seconds."""

    def __init__(self, threshold: float) -> None:
        self.threshold, self.beat, self.stop = threshold, time.perf_counter(), False
        self.episodes: dict[float, Counter[str]] = {}
        self.lengths: dict[float, float] = {}
        self.thread = threading.Thread(target=self._watch, daemon=True)

    async def heartbeat(self) -> None:
        self.thread.start()
        while not self.stop:
            self.beat = time.perf_counter()
            await asyncio.sleep(0.001)

    def _watch(self) -> None:
        main = threading.main_thread().ident
        while not self.stop:
            time.sleep(0.002)
            beat, lag = self.beat, time.perf_counter() - self.beat
            frame = sys._current_frames().get(main or 0)
            if lag < self.threshold or frame is None:
                continue
            where = " <- ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}"
                                for f in reversed(traceback.extract_stack(frame)[-6:]))
            self.episodes.setdefault(beat, Counter())[where] += 1
            self.lengths[beat] = lag

    def report(self) -> list[dict[str, object]]:
        longest = sorted(self.lengths, key=self.lengths.__getitem__, reverse=True)[:5]
        return [{"stall_ms": _ms(self.lengths[b]),
                 "stacks": [f"{n} x {w}" for w, n in self.episodes[b].most_common(3)]}
                for b in longest]


async def deliver(op: Operator, sender: str, rcpt: str, path: Path) -> dict[str, float]:
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SENDER_CHILD, str(op.ports["submission"]),
        str(op.ca_file), sender, PASSWORD, rcpt, str(path),
        stdout=asyncio.subprocess.PIPE)
    out, _ = await child.communicate()
    result: dict[str, float] = json.loads(out)
    if result["code"] != 250:
        raise RuntimeError(f"delivery refused: {result}")
    return result


def _ms(seconds: float) -> float:
    return round(1000 * seconds, 2)


def window(samples: list[tuple[float, float]], start: float, end: float) -> list[float]:
    return [d for t, d in samples if start <= t <= end]


def overlaps(lags: list[tuple[float, float]], start: float, end: float) -> list[float]:
    """The part of each stall (probe start + 1 ms sleep + lag) inside [start, end]."""
    parts = [min(end, t + 0.001 + d) - max(start, t + 0.001) for t, d in lags]
    return [p for p in parts if p > 0]


def phase(noops: list[tuple[float, float]], inbox: list[tuple[float, float]],
          lags: list[tuple[float, float]], start: float, end: float) -> dict[str, object]:
    """NOOPs started in [start, end] (another BAL's, the recipient's): worst and median
    round trip; stalls: the worst and every one over 20 ms, their part inside [start, end]."""
    during, lag = window(noops, start, end) or [0.0], overlaps(lags, start, end) or [0.0]
    mine = window(inbox, start, end) or [0.0]
    return {"noop_worst_ms": _ms(max(during)), "noop_median_ms": _ms(statistics.median(during)),
            "inbox_noop_worst_ms": _ms(max(mine)),
            "inbox_noop_median_ms": _ms(statistics.median(mine)),
            "loop_lag_worst_ms": _ms(max(lag)),
            "lags_over_20ms": sorted((_ms(x) for x in lag if x > 0.02), reverse=True)}


class IntakeClock:
    """When the server's intake (trace headers, store commit) starts and ends."""

    def __init__(self, intake: object) -> None:
        self.marks: list[float] = []
        accept = intake.accept  # type: ignore[attr-defined]

        async def timed(*args: object, **kwargs: object) -> object:
            self.marks.append(time.perf_counter())
            try:
                return await accept(*args, **kwargs)
            finally:
                self.marks.append(time.perf_counter())
        intake.accept = timed  # type: ignore[attr-defined]


async def one_run(op: Operator, imap: ImapNoop, inbox: ImapNoop, clock: IntakeClock,
                  sender: str, rcpt: str, path: Path) -> dict[str, object]:
    stop, lags = asyncio.Event(), list[tuple[float, float]]()
    tasks = [asyncio.create_task(imap.run(stop)), asyncio.create_task(inbox.run(stop)),
             asyncio.create_task(lag_probe(stop, lags))]
    await asyncio.sleep(1.0)
    sent = await deliver(op, sender, rcpt, path)
    await asyncio.sleep(0.5)
    stop.set()
    await asyncio.gather(*tasks)
    t_data, t_reply = sent["t_data"], sent["t_reply"]
    t_accept, t_stored = clock.marks[-2:]
    idle = window(imap.samples, 0, t_data)
    run = {"delivery": phase(imap.samples, inbox.samples, lags, t_data, t_reply),
           "transfer": phase(imap.samples, inbox.samples, lags, t_data, t_accept),
           "store": phase(imap.samples, inbox.samples, lags, t_accept, t_stored),
           "noop_median_idle_ms": _ms(statistics.median(idle)),
           "idle": phase(imap.samples, inbox.samples, lags, t_data - 0.9, t_data),
           "data_to_reply_s": round(t_reply - t_data, 3),
           "intake_s": round(t_stored - t_accept, 3), "session_s": round(sent["session_s"], 3)}
    imap.samples.clear()
    inbox.samples.clear()
    return run


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="mss-stall-") as tmp:
        op = await make_operator(Path(tmp))
        async with serving(op):
            sender, rcpt = await op.add_bal("alice"), await op.add_bal("bob")
            other = await op.add_bal("carol")
            path = Path(tmp) / "message.eml"
            path.write_bytes(big_message(sender, rcpt, args.size))
            size = path.stat().st_size
            warm = Path(tmp) / "warm.eml"
            warm.write_bytes(big_message(sender, rcpt, 100_000))
            await deliver(op, sender, rcpt, warm)
            tracer = StallTracer(args.trace_stalls / 1000) if args.trace_stalls else None
            beat = asyncio.create_task(tracer.heartbeat()) if tracer else None
            clock = IntakeClock(op.running.services.intake)  # type: ignore[union-attr]
            imap = await ImapNoop.open(op.ports["imaps"], op.client_context(), other, PASSWORD)
            inbox = await ImapNoop.open(op.ports["imaps"], op.client_context(), rcpt, PASSWORD)
            runs = [await one_run(op, imap, inbox, clock, sender, rcpt, path)
                    for _ in range(args.runs)]
            await imap.close()
            await inbox.close()
            if tracer and beat:
                tracer.stop = True
                await beat
                runs.append({"stalls": tracer.report()})
    print(json.dumps({"tree": os.path.dirname(os.path.dirname(server.__file__)),
                      "database": "postgresql" if os.environ.get(
                          "MSS_TEST_DATABASE_URL", "").startswith("postgresql") else "sqlite",
                      "message_bytes": size,
                      "runs": runs}, indent=1))

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size", type=int, default=25 * 1024 * 1024)
    parser.add_argument("--trace-stalls", type=float, default=0.0, metavar="MS",
                        help="sample the loop thread's stack during stalls longer than MS")
    asyncio.run(main(parser.parse_args()))
