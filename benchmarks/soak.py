"""A soak: a steady rate of pushes for minutes, with the Redis server stopped and restarted mid-way.

    .venv/bin/python benchmarks/soak.py [--seconds 600] [--rate 50] [--outage 30] [--handoff-every 5]
                                        [--hours open|closed|real]

The bot runs as in production (gunicorn + queue worker, real Redis on a
loopback port, the fake WeChat as API; see benchmarks/load.py). An open-loop
generator sends safe-mode text pushes of real user messages at `--rate` from
500 users (each said hello through the fake WeChat first, so messages to them
can be delivered); in the middle the Redis server is shut down for `--outage`
seconds and started again on the same port and data directory. Alongside,
every `--handoff-every` seconds a new user asks for a person ("转人工")
through the fake WeChat. With `--hours open` (agents on duty) the bot
transfers them and queues a notice; with `--hours closed` it offers to take a
message, the user leaves one and is told a ticket number.

Reported: pushes, 5xx (must be 0), non-200, timeouts (WeChat's 5 s), latency
p50/p99/max before, during and after the outage, replies sampled and decoded
per phase; per phase, handoffs transferred vs notices delivered and tickets
told vs tickets kept in Redis at the end; what the queue holds at the end; and
the RSS of every gunicorn worker and the queue worker at start and end.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import re
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rq import Queue  # noqa: E402

from benchmarks.load import (Credentials, LoadGenerator, MessageMix, PushSigner, Sample,  # noqa: E402
                             bot_stack, check_replies, children, figures, format_row, header, openid)
from bot.sim.fake_wechat import BotReplyError  # noqa: E402

PHASES = ("before", "during", "after")
HANDOFF_TEXT = "转人工"
LEFT_MESSAGE = "我的提现一直失败，钱还没到账，请尽快处理"
TICKET_NUMBER = re.compile(r"T\d{10}")
#: Users of the steady traffic; each writes every USERS / rate seconds.
USERS = 500
#: Every this many pushes, one reply is kept and decoded after the run.
KEEP_EVERY = 10
DRAIN_WAIT = 60.0


# --------------------------------------------------------------------------- processes and memory

def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def pss_mib(pid: int) -> float | None:
    """Proportional set size: each shared page (the memory-mapped model and e5 weights) counted
    once across the processes that map it, split between them."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def memory(bot, measure=rss_mib) -> dict[str, float | None]:
    """RSS (or `measure`) in MiB of each gunicorn worker (children of the master) and of the queue worker."""
    master, queue_worker = bot.processes[0].pid, bot.processes[1].pid
    out = {f"gunicorn worker {pid}": measure(pid) for pid in children(master)}
    out[f"queue worker {queue_worker}"] = measure(queue_worker)
    return out


# --------------------------------------------------------------------------- the outage and the handoffs

class Timeline:
    """When the outage began and ended, in seconds from the start of the traffic."""

    def __init__(self, start: float):
        self.start = start
        self.stopped_at = float("inf")
        self.started_at = float("inf")

    def now(self) -> float:
        return time.perf_counter() - self.start

    def phase(self, t: float) -> str:
        return "before" if t < self.stopped_at else "during" if t < self.started_at else "after"


def restart_redis(redis_server, timeline: Timeline, at: float, seconds: float) -> None:
    time.sleep(max(0.0, at - timeline.now()))
    timeline.stopped_at = timeline.now()
    redis_server.stop()
    print(f"  t={timeline.now():6.1f}s redis stopped", flush=True)
    time.sleep(max(0.0, timeline.stopped_at + seconds - timeline.now()))
    redis_server.start()
    timeline.started_at = timeline.now()
    print(f"  t={timeline.now():6.1f}s redis started again", flush=True)


def ask_for_a_person(fake, user: str) -> dict:
    """One user's handoff through the fake WeChat: a transfer (a notice is due) or, outside
    service hours, an offer to leave a message, which the user takes (a ticket is due)."""
    fake.user_says(user, "你好")
    reply = fake.user_says(user, HANDOFF_TEXT) or {}
    if reply.get("MsgType") == "transfer_customer_service":
        return {"outcome": "transfer"}
    if "工单" not in reply.get("Content", ""):
        return {"outcome": "other", "said": reply.get("Content", "")[:40]}
    answer = (fake.user_says(user, LEFT_MESSAGE) or {}).get("Content", "")
    number = TICKET_NUMBER.search(answer)
    return {"outcome": "ticket", "ticket": number.group(0) if number else None, "said": answer[:40]}


def handoffs_every(fake, timeline: Timeline, every: float, until: float, out: list[dict]) -> None:
    """Every `every` seconds a new user asks for a person; one record per user in `out`."""
    for n in range(int(until // every)):
        time.sleep(max(0.0, (n + 0.5) * every - timeline.now()))
        user = openid("SoakH", n)
        record = {"user": user, "phase": timeline.phase(timeline.now())}
        try:
            record.update(ask_for_a_person(fake, user))
        except BotReplyError as exc:
            record.update(outcome="failed", said=str(exc)[:80])
        out.append(record)


def introduce(fake, users: list[str], threads: int = 8) -> None:
    """Each user says hello through the fake WeChat first, so it can deliver messages to them later."""
    def greet(chunk: list[str]) -> None:
        for user in chunk:
            fake.user_says(user, "你好")

    workers = [threading.Thread(target=greet, args=(users[i::threads],)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)


def wait_for_queue(queue: Queue, timeout: float) -> None:
    """Wait (bounded) until the outbound queue has nothing waiting or running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if not queue.count and not queue.started_job_registry.count:
                return
        except Exception:  # Redis unreachable: nothing more to learn by waiting
            return
        time.sleep(0.5)


def hours_file(var_dir: Path, hours: str) -> dict[str, str]:
    """BOT_HOURS_FILE for --hours open/closed (agents always or never on duty); nothing for real."""
    if hours == "real":
        return {}
    path = var_dir / "service_hours.json"
    path.write_text(json.dumps({"timezone": "Asia/Shanghai", "always_open": hours == "open", "weekly": {}}))
    return {"BOT_HOURS_FILE": str(path)}


# --------------------------------------------------------------------------- the soak

def soak(args) -> int:
    creds = Credentials.new()
    signer, mix = PushSigner(creds), MessageMix(seed=11)
    with tempfile.TemporaryDirectory(prefix="wxbot-soak-") as tmp, \
            bot_stack(creds, Path(tmp), args.workers, args.log_level, hours_file(Path(tmp), args.hours)) as stack:
        users = [openid("Soak", n) for n in range(USERS)]
        introduce(stack.fake, users)
        mem_start, pss_start = memory(stack.bot), memory(stack.bot, pss_mib)
        queue = Queue(stack.env.get("BOT_QUEUE_NAME", "wechat-outbound"), connection=stack.redis.client())
        gen = LoadGenerator(stack.bot.base_url, threads=args.threads)

        start = time.perf_counter() + 0.5
        timeline = Timeline(start)
        outage_at = (args.seconds - args.outage) / 2
        handoffs: list[dict] = []
        helpers = [
            threading.Thread(target=restart_redis, args=(stack.redis, timeline, outage_at, args.outage), daemon=True),
            threading.Thread(target=handoffs_every, daemon=True,
                             args=(stack.fake, timeline, args.handoff_every, args.seconds, handoffs)),
        ]
        for t in helpers:
            t.start()
        print(f"soak: {args.rate:g} msg/s for {args.seconds:g} s, redis down from t={outage_at:.0f}s "
              f"for {args.outage:g} s, service hours {args.hours}, {args.workers} gunicorn workers", flush=True)
        samples, elapsed = gen.open_loop(lambda i: signer.text(users[i % USERS], mix.next()),
                                         args.rate, args.seconds, keep_body=lambda i: i % KEEP_EVERY == 0,
                                         start=start)
        for t in helpers:
            t.join(timeout=args.outage + 60)

        wait_for_queue(queue, DRAIN_WAIT)
        for h in handoffs:
            h["delivered"] = len(stack.fake.sent_to(h["user"]))
            h["kept"] = bool(h.get("ticket")) and stack.storage.get_ticket(h["ticket"]) is not None
        outcome = {
            "queue": {"waiting": queue.count, "delayed": queue.scheduled_job_registry.count,
                      "failed": queue.failed_job_registry.count},
            "undelivered": Counter(u.get("reason") for u in stack.storage.undelivered(10_000)),
            "queue_worker_alive": stack.bot.processes[1].poll() is None,
            "sent_total": len(stack.fake.sent),
            "mem_start": mem_start, "mem_end": memory(stack.bot),
            "pss_start": pss_start, "pss_end": memory(stack.bot, pss_mib),
        }
    print_report(samples, elapsed, timeline, signer, handoffs, outcome)
    return 0


def print_report(samples: list[Sample], elapsed: float, timeline: Timeline, signer, handoffs: list[dict],
                 outcome: dict) -> None:
    total = figures(samples, elapsed)
    print(f"\nredis down from t={timeline.stopped_at:.1f}s to t={timeline.started_at:.1f}s")
    print(header(f"{'phase':8}"))
    print(f"{'all':8}{format_row(total)}")
    spans = {"before": timeline.stopped_at, "during": timeline.started_at - timeline.stopped_at,
             "after": elapsed - timeline.started_at}
    for phase in PHASES:
        print(f"{phase:8}{format_row(figures([s for s in samples if timeline.phase(s.due) == phase], spans[phase]))}")
    for phase in PHASES:
        part = [s for s in samples if timeline.phase(s.due) == phase]
        print(f"replies decoded ({phase}): {check_replies(signer, part, limit=len(part))}")

    print(f"\nhandoff requests: {len(handoffs)} (one new user every few seconds)")
    for phase in PHASES:
        asked = [h for h in handoffs if h["phase"] == phase]
        transfers = [h for h in asked if h["outcome"] == "transfer"]
        tickets = [h for h in asked if h["outcome"] == "ticket"]
        told = [h for h in tickets if h.get("ticket")]
        others = Counter(h.get("said", "") for h in asked if h["outcome"] in ("other", "failed"))
        others.update(f"no ticket: {h['said']}" for h in tickets if not h.get("ticket"))
        print(f"  {phase:7} asked {len(asked):3} | transferred {len(transfers):3}, notice delivered "
              f"{sum(h['delivered'] > 0 for h in transfers):3} | left a message {len(tickets):3}, told a ticket "
              f"{len(told):3}, ticket kept {sum(h['kept'] for h in told):3}"
              + (f" | other: {dict(others)}" if others else ""))
    print(f"customer-service messages delivered by the fake WeChat: {outcome['sent_total']}")
    print(f"queue at the end: {outcome['queue']}; queue worker alive: {outcome['queue_worker_alive']}")
    print(f"recorded undelivered by reason: {dict(outcome['undelivered'])}")

    print("\nMiB                        RSS start      end   PSS start      end")
    mem_start, mem_end = outcome["mem_start"], outcome["mem_end"]
    pss_start, pss_end = outcome["pss_start"], outcome["pss_end"]
    for name in sorted(set(mem_start) | set(mem_end)):
        print(f"  {name:24} {_mib(mem_start.get(name)):>9} {_mib(mem_end.get(name)):>8} "
              f"{_mib(pss_start.get(name)):>11} {_mib(pss_end.get(name)):>8}")
    growth = [mem_end[n] - mem_start[n] for n in mem_start if mem_start.get(n) and mem_end.get(n)]
    started = [v for v in mem_start.values() if v]
    print(f"\nsummary: p99 {total['p99_ms']:.1f} ms over the whole soak; RSS per worker "
          f"{min(started, default=0):.1f}-{max(started, default=0):.1f} MiB at the start, "
          f"largest growth {max(growth, default=0):+.1f} MiB by the end; PSS per worker (shared pages "
          f"counted once) {max((v for v in pss_end.values() if v), default=0):.1f} MiB at most at the end")
    print(f"5xx: {total['5xx']} (must be 0)")


def _mib(value) -> str:
    return "-" if value is None else f"{value:.1f}"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="length of the soak (default 600)")
    parser.add_argument("--rate", type=float, default=50.0, help="steady msg/s (default 50)")
    parser.add_argument("--outage", type=float, default=None,
                        help="seconds Redis stays down, centred in the run (default: min(30, seconds / 4))")
    parser.add_argument("--handoff-every", type=float, default=5.0, help="seconds between handoff requests")
    parser.add_argument("--hours", choices=("open", "closed", "real"), default="open",
                        help="agents always on duty (handoff notices), never (tickets), or config/service_hours.json")
    parser.add_argument("--workers", type=int, default=multiprocessing.cpu_count() * 2 + 1,
                        help="gunicorn workers (default: the bot's, 2 x cores + 1)")
    parser.add_argument("--threads", type=int, default=64, help="generator threads (connections)")
    parser.add_argument("--log-level", default="INFO", help="BOT_LOG_LEVEL (default INFO)")
    args = parser.parse_args(argv)
    if args.outage is None:
        args.outage = min(30.0, args.seconds / 4)
    return args


def main(argv=None) -> int:
    return soak(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
