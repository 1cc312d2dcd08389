"""Throughput and latency of the bot under gunicorn, against a bare wechatpy endpoint.

    .venv/bin/python benchmarks/load.py [--duration 12] [--rates 50,100,200,400]
                                        [--max-concurrency 32] [--workers N] [--json out.json]

`--only bot,bot_use,peer,bare` also measures the bot with the cheaper embedder
(BOT_EMBEDDER=use, config/understanding-use.json) beside the shipped one, in the same run.

Starts a real Redis (RedisServer on a free loopback port), the fake WeChat
as the API, and the bot as it runs in production (gunicorn with
config/gunicorn.conf.py plus the queue worker, via BotProcesses); then the
bare endpoint (benchmarks/bare_endpoint.py) under the same gunicorn settings
and worker count, twice: as the "floor" (it also remembers each nonce in a
real Redis, one round trip per push) and bare. Each target gets the same runs:

- open-loop runs at each offered rate: send times are scheduled in advance
  and latency is measured from the scheduled time, so a slow server is not
  excused by the generator waiting for it (no coordinated omission);
- a closed-loop max-throughput run with a fixed number of connections.

The pushes are safe-mode (AES) text pushes of real user messages from
tests/data (FAQ questions, greetings, verification requests, scam reports),
signed and encrypted by bot.sim's own implementation of WeChat's algorithm,
each with a unique MsgId and nonce. A run's pushes are built before its timed
phase so the generator spends its CPU on sending. Every request times out
after 5 s, WeChat's deadline.

soak.py imports the generator, the message mix and the stack from here.
"""
from __future__ import annotations

import argparse
import http.client
import importlib.util
import itertools
import json
import multiprocessing
import os
import random
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.redis_server import RedisServer  # noqa: E402
from bot.sim import crypto  # noqa: E402
from bot.sim.fake_wechat import FakeWeChat  # noqa: E402
from bot.sim.pusher import PushBuilder, Pusher, ReplyError  # noqa: E402
from bot.sim.stack import BotProcesses, free_port  # noqa: E402
from bot.storage import Storage  # noqa: E402

DATA = ROOT / "tests" / "data"
WECHAT_DEADLINE = 5.0
ENDPOINT_PATH = "/wechat"
#: Share of each kind of message in the traffic.
MIX = {"faq": 0.55, "greeting": 0.15, "verify": 0.15, "scam": 0.15}
#: A user sends at most this many messages in one run (the bot rate-limits chatty users).
MESSAGES_PER_USER = 5
#: Replies decoded after a run to check they are well-formed answers.
REPLY_SAMPLE = 300

Request = tuple[str, bytes]  # (path with query string, body)


# --------------------------------------------------------------------------- what users say

def _rows(name: str) -> list[dict]:
    with open(DATA / name, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def message_pools() -> dict[str, list[str]]:
    """Real user messages by kind, from the labelled dev set and the rule tests' data."""
    labelled = _rows("dev/routing.jsonl")
    return {
        "faq": [r["text"] for r in labelled if r["route"] == "faq"],
        "greeting": [r["text"] for r in labelled if r["route"] == "greeting"],
        "verify": [r["text"] for r in _rows("verify_labelled.jsonl") if r["expect"]],
        "scam": [r["text"] for r in _rows("scam_labelled.jsonl") if r["scam"]],
    }


#: Digits of the suffix that makes a text unique: characters no FAQ, greeting or scam cue uses.
_UNIQUE_DIGITS = "甲乙丙丁戊己庚辛壬癸"


class MessageMix:
    """An endless, reproducible stream of user messages in the proportions of MIX (or of `kinds`
    alone); `unique`: each text ends in a suffix of its own, so no two texts are the same."""

    def __init__(self, seed: int = 7, kinds: tuple[str, ...] = (), unique: bool = False):
        self.rng = random.Random(seed)
        self.pools = message_pools()
        self.kinds = list(kinds or MIX)
        self.weights = [MIX[k] for k in self.kinds]
        self.unique = itertools.count() if unique else None

    def next(self) -> str:
        kind = self.rng.choices(self.kinds, self.weights)[0]
        text = self.rng.choice(self.pools[kind])
        if self.unique is None:
            return text
        return f"{text}（{''.join(_UNIQUE_DIGITS[int(d)] for d in str(next(self.unique)))}）"


# --------------------------------------------------------------------------- signed pushes

@dataclass(frozen=True)
class Credentials:
    token: str
    app_id: str
    app_secret: str
    aes_key: str

    @classmethod
    def new(cls) -> "Credentials":
        return cls("bench-token", "wxbench000000001", "bench-secret", crypto.new_aes_key())

    def env(self) -> dict[str, str]:
        return {"WECHAT_TOKEN": self.token, "WECHAT_APP_ID": self.app_id,
                "WECHAT_APP_SECRET": self.app_secret, "WECHAT_ENCODING_AES_KEY": self.aes_key,
                "BOT_ENDPOINT_PATH": ENDPOINT_PATH}


class _Keep:
    """A stand-in for a requests session: keeps what Pusher would POST instead of sending it."""

    def post(self, url, params=None, data=None, **kwargs):
        self.params, self.data = params, data


class PushSigner:
    """Pushes as WeChat sends them (bot.sim.pusher.Pusher), returned as requests instead of sent."""

    def __init__(self, creds: Credentials, mode: str = "safe"):
        self.kept = _Keep()
        self.pusher = Pusher(ENDPOINT_PATH, creds.token, creds.app_id, creds.aes_key, mode=mode, session=self.kept)
        self.builder = PushBuilder()
        # The bot refuses a nonce it has seen; numbered ones cannot repeat within a process.
        self.nonces = itertools.count(random.randrange(10**8, 9 * 10**8) * 10**6)
        self.lock = threading.Lock()

    def prepare(self, xml: str, **push_kwargs) -> tuple[dict, bytes]:
        """The query arguments and body of `xml` pushed as WeChat would (a fresh nonce unless given)."""
        push_kwargs.setdefault("nonce", next(self.nonces))
        with self.lock:  # the kept request is shared state
            self.pusher.push(xml, **push_kwargs)
            return dict(self.kept.params), self.kept.data

    def text(self, openid: str, content: str) -> Request:
        params, data = self.prepare(self.builder.text(openid, content))
        return f"{ENDPOINT_PATH}?{urlencode(params)}", data


def openid(tag: str, n: int) -> str:
    """A 28-character openid, like WeChat's, unique per (tag, n)."""
    return f"oBench{tag}{n:08d}".ljust(28, "x")[:28]


def build_pushes(signer: PushSigner, mix: MessageMix, count: int, tag: str) -> list[Request]:
    users = max(1, count // MESSAGES_PER_USER)
    return [signer.text(openid(tag, i % users), mix.next()) for i in range(count)]


# --------------------------------------------------------------------------- the load generator

@dataclass
class Sample:
    due: float                 # seconds from the start of the run the request was scheduled for
    latency: float             # seconds from `due` (open loop) or from sending (closed loop) to the answer
    status: int | str          # HTTP status, "timeout" or the connection error's name
    body: bytes | None = None


@dataclass
class RunResult:
    target: str
    label: str
    elapsed: float
    samples: list[Sample]
    reconnects: int = 0
    cpu: dict = field(default_factory=dict)
    reply_check: dict = field(default_factory=dict)
    routes: dict = field(default_factory=dict)

    @property
    def statuses(self) -> Counter:
        return Counter(s.status for s in self.samples)

    def figures(self) -> dict:
        return figures(self.samples, self.elapsed)


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (nan when empty)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def figures(samples: list[Sample], elapsed: float) -> dict:
    answered = sorted(s.latency for s in samples if isinstance(s.status, int))
    statuses = Counter(s.status for s in samples)
    return {
        "sent": len(samples),
        "ok": statuses.get(200, 0),
        "msg_per_s": statuses.get(200, 0) / elapsed if elapsed else 0.0,
        "p50_ms": percentile(answered, 50) * 1000,
        "p90_ms": percentile(answered, 90) * 1000,
        "p99_ms": percentile(answered, 99) * 1000,
        "max_ms": (answered[-1] * 1000) if answered else float("nan"),
        "5xx": sum(n for st, n in statuses.items() if isinstance(st, int) and st >= 500),
        "non_200": sum(n for st, n in statuses.items() if st != 200),
        "timeouts": statuses.get("timeout", 0),
        "errors": sum(n for st, n in statuses.items() if isinstance(st, str)),
    }


class LoadGenerator:
    """Sends prepared requests to one HTTP server over keep-alive connections, one per thread."""

    def __init__(self, base_url: str, threads: int = 64, timeout: float = WECHAT_DEADLINE):
        url = urlsplit(base_url)
        self.host, self.port = url.hostname, url.port
        self.threads, self.timeout = threads, timeout
        self.reconnects = 0

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def _exchange(self, conn, request: Request) -> tuple[int, bytes]:
        target, body = request
        conn.request("POST", target, body, {"Content-Type": "text/xml"})
        response = conn.getresponse()
        data = response.read()
        if response.will_close:
            conn.close()
        return response.status, data

    def send(self, conn: http.client.HTTPConnection, request: Request) -> tuple[int | str, bytes | None]:
        """One request; a keep-alive connection the server dropped while idle is reopened once."""
        try:
            try:
                return self._exchange(conn, request)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.reconnects += 1
                conn.close()
                return self._exchange(conn, request)
        except socket.timeout:
            conn.close()
            return "timeout", None
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            return type(exc).__name__, None

    def _run(self, body: Callable[[http.client.HTTPConnection], None], limit: float) -> None:
        def thread_main():
            conn = self._connect()
            try:
                body(conn)
            finally:
                conn.close()

        threads = [threading.Thread(target=thread_main, daemon=True) for _ in range(self.threads)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + limit
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))

    def open_loop(self, make: Callable[[int], Request], rate: float, duration: float,
                  keep_body: Callable[[int], bool] = lambda i: False,
                  start: float | None = None) -> tuple[list[Sample], float]:
        """Request i is due at `start` (a perf_counter time) + i/rate; returns the samples and the elapsed time."""
        count = max(1, int(rate * duration))
        samples: list[Sample | None] = [None] * count
        indexes = itertools.count()
        start = time.perf_counter() + 0.1 if start is None else start

        def body(conn):
            while (i := next(indexes)) < count:
                due = start + i / rate
                request = make(i)
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                status, data = self.send(conn, request)
                samples[i] = Sample(due - start, time.perf_counter() - due, status,
                                    data if keep_body(i) else None)

        self._run(body, duration + 4 * self.timeout + 5)
        return [s for s in samples if s is not None], time.perf_counter() - start

    def closed_loop(self, requests: list[Request], duration: float) -> tuple[list[Sample], float]:
        """Every thread sends back to back until `duration` passes or the requests run out."""
        samples: list[Sample] = []
        indexes = itertools.count()
        start = time.perf_counter()
        end = start + duration

        def body(conn):
            mine = []
            while time.perf_counter() < end and (i := next(indexes)) < len(requests):
                sent = time.perf_counter()
                status, data = self.send(conn, requests[i])
                mine.append(Sample(sent - start, time.perf_counter() - sent, status, data))
            samples.extend(mine)

        self._run(body, duration + 4 * self.timeout + 5)
        return samples, time.perf_counter() - start


def check_replies(signer: PushSigner, samples: list[Sample], limit: int = REPLY_SAMPLE) -> dict:
    """Decode (after the timed phase) up to `limit` replies as WeChat would: MsgType counts and 'bad'."""
    kinds: Counter = Counter()
    for sample in [s for s in samples if s.status == 200 and s.body is not None][:limit]:
        try:
            reply = signer.pusher.decode_reply(Answer(200, sample.body))
            kinds[reply["MsgType"] if reply else "success"] += 1
        except ReplyError:
            kinds["bad"] += 1
    return dict(kinds)


@dataclass
class Answer:
    """The two attributes of a requests.Response that Pusher.decode_reply reads."""
    status_code: int
    content: bytes


def children(pid: int) -> list[int]:
    """Pids whose parent is `pid` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # exited while we looked
        if int(text.rpartition(")")[2].split()[1]) == pid:
            found.append(int(stat.parent.name))
    return sorted(found)


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and of its children it has reaped (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime


class CpuMeter:
    """CPU use since it was made: the whole host's, this process's (the generator) and, per group
    of processes (name -> pids), the share of one core each group took."""

    def __init__(self, groups: dict[str, list[int]] | None = None):
        self.groups = groups or {}
        self.start = self._now()

    def _now(self) -> tuple:
        jiffies = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = jiffies[3] + jiffies[4]  # idle + iowait
        per_group = {name: sum(cpu_seconds(p) for p in pids) for name, pids in self.groups.items()}
        return time.perf_counter(), time.process_time(), sum(jiffies) - idle, sum(jiffies), per_group

    def read(self) -> dict:
        wall0, proc0, busy0, total0, groups0 = self.start
        wall1, proc1, busy1, total1, groups1 = self._now()
        wall = max(1e-9, wall1 - wall0)
        out = {"host_busy_pct": 100 * (busy1 - busy0) / max(1, total1 - total0),
               "generator_pct": 100 * (proc1 - proc0) / wall}
        out.update({f"{name}_pct": 100 * (groups1[name] - groups0[name]) / wall for name in self.groups})
        return out


# --------------------------------------------------------------------------- the processes

@dataclass
class BotStack:
    redis: RedisServer
    fake: FakeWeChat
    bot: BotProcesses
    storage: Storage
    env: dict


@contextmanager
def bot_stack(creds: Credentials, var_dir: Path, workers: int, log_level: str = "INFO",
              extra_env: dict[str, str] | None = None, app: str = "wsgi:app") -> Iterator[BotStack]:
    """Real Redis on a free loopback port, the fake WeChat (safe mode) and the bot under gunicorn."""
    redis_server = RedisServer(var_dir / "redis", port=free_port()).start()
    fake = FakeWeChat(app_id=creds.app_id, app_secret=creds.app_secret, token=creds.token,
                      encoding_aes_key=creds.aes_key, mode="safe").start()
    fake.add_agent("kf1001@demo_wallet_official", "小王", online=True)
    env = {**creds.env(), "REDIS_URL": redis_server.url, "WECHAT_API_BASE_URL": fake.base_url,
           "BOT_VAR_DIR": str(var_dir), "BOT_LOG_LEVEL": log_level, **(extra_env or {})}
    bot = BotProcesses(env, web_workers=workers, app=app)
    try:
        bot.start()
        fake.bot_url = bot.callback_url
        yield BotStack(redis_server, fake, bot, Storage(redis_server.client(), "wxbot"), env)
    finally:
        bot.stop()
        fake.stop()
        redis_server.stop()


def process_groups(bot: BotProcesses, redis_server: RedisServer | None = None) -> dict[str, list[int]]:
    """The pids whose CPU a run reports: gunicorn (master and workers), the queue worker, Redis."""
    master = bot.processes[0].pid
    groups = {"gunicorn": [master, *children(master)]}
    if len(bot.processes) > 1:
        groups["queue_worker"] = [bot.processes[1].pid]
    if redis_server is not None and redis_server.process is not None:
        groups["redis"] = [redis_server.process.pid]
    return groups


@contextmanager
def bare_stack(creds: Credentials, var_dir: Path, workers: int, log_level: str = "INFO",
               redis_url: str = "", app: str = "benchmarks.bare_endpoint:app") -> Iterator[BotProcesses]:
    """The bare endpoint under gunicorn with the bot's config (no queue worker); with `redis_url`,
    the floor (it also remembers nonces there); with the peer's `app`, the WeRoBot peer."""
    bare = BotProcesses({**creds.env(), "BOT_VAR_DIR": str(var_dir), "BOT_LOG_LEVEL": log_level,
                         "REDIS_URL": redis_url}, web_workers=workers, queue_worker=False, app=app)
    with bare:
        yield bare


# --------------------------------------------------------------------------- the benchmark

def run_target(name: str, base_url: str, signer: PushSigner, mix: MessageMix, args,
               storage: Storage | None = None, processes: Callable[[], dict[str, list[int]]] = dict) -> list[RunResult]:
    results = []
    warmup = build_pushes(signer, mix, 40, f"{name[:3]}w")
    LoadGenerator(base_url, threads=4).open_loop(warmup.__getitem__, rate=20, duration=2)
    plans = [(f"{rate:g}/s", rate) for rate in args.rates]
    if args.max_concurrency:
        plans.append((f"max c={args.max_concurrency}", None))
    for n, (label, rate) in enumerate(plans):
        tag = f"{name[:3]}{n}"
        before = storage.handled_counts() if storage else {}
        cpu = CpuMeter(processes())
        if rate is None:
            pushes = build_pushes(signer, mix, args.max_count, tag)
            generator = LoadGenerator(base_url, threads=args.max_concurrency)
            samples, elapsed = generator.closed_loop(pushes, args.duration)
        else:
            pushes = build_pushes(signer, mix, int(rate * args.duration), tag)
            generator = LoadGenerator(base_url, threads=args.threads)
            samples, elapsed = generator.open_loop(pushes.__getitem__, rate, args.duration, keep_body=lambda i: True)
        result = RunResult(name, label, elapsed, samples, generator.reconnects, cpu.read(),
                           check_replies(signer, samples))
        if storage:
            after = storage.handled_counts()
            result.routes = {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}
        results.append(result)
        print(f"  {name:5} {label:12} {format_row(result.figures())}", flush=True)
        time.sleep(1.0)
    return results


COLUMNS = ("sent", "ok", "msg_per_s", "p50_ms", "p90_ms", "p99_ms", "max_ms", "5xx", "non_200", "timeouts", "errors")


def format_row(fig: dict, columns=COLUMNS) -> str:
    return " ".join(f"{fig[c]:>9.1f}" if isinstance(fig[c], float) else f"{fig[c]:>9}" for c in columns)


def header(first: str, columns=COLUMNS) -> str:
    return first + " ".join(f"{c:>9}" for c in columns)


def report(results: list[RunResult], args) -> dict:
    print()
    print(header(f"{'target':8}{'run':13}"))
    for r in results:
        print(f"{r.target:8}{r.label:13}{format_row(r.figures())}")
    print()
    for r in results:
        extra = f" routes={r.routes}" if r.routes else ""
        shares = ", ".join(f"{k[:-4]} {v:.0f}%" for k, v in r.cpu.items() if k != "host_busy_pct")
        print(f"{r.target:8}{r.label:13} CPU: host {r.cpu['host_busy_pct']:.0f}% busy; of one core: {shares}; "
              f"replies checked: {r.reply_check}; reconnects={r.reconnects}{extra}")
    summary = {}
    by = {(r.target, r.label): r.figures() for r in results}
    label = f"max c={args.max_concurrency}"
    cost = {r.target: server_cpu_ms(r) for r in results if r.label == label}
    summary["server_cpu_ms_per_msg"] = cost
    summary["max_msg_per_s"] = {t: f["msg_per_s"] for (t, l), f in by.items() if l == label}
    summary["p99_at_200_ms"] = {t: f["p99_ms"] for (t, l), f in by.items() if l == "200/s"}
    print("\nmax throughput (msg/s): " + ", ".join(f"{t} {v:.0f}" for t, v in summary["max_msg_per_s"].items()))
    print("server CPU per message (ms, gunicorn + queue worker + redis, max run): "
          + ", ".join(f"{t} {v:.2f}" for t, v in cost.items() if v))
    print("p99 at 200 msg/s (ms): " + ", ".join(f"{t} {v:.1f}" for t, v in summary["p99_at_200_ms"].items()))
    ratios = {}
    for target in ("bot", "bot_use", "fixed"):
        for ref in ("peer", "floor", "bare"):
            figure = {"throughput": summary["max_msg_per_s"], "cpu_per_msg": cost, "p99_at_200": summary["p99_at_200_ms"]}
            row = {name: values[target] / values[ref] for name, values in figure.items()
                   if values.get(target) and values.get(ref)}
            if row:
                ratios[f"{target}/{ref}"] = row
                print(f"{target}/{ref}: " + ", ".join(f"{name} {v:.2f}" for name, v in row.items()))
    summary["ratios"] = ratios
    goals = []
    if "fixed/peer" in ratios and "cpu_per_msg" in ratios["fixed/peer"]:
        goals.append(("fixed decision: CPU per message <= the peer's", ratios["fixed/peer"]["cpu_per_msg"] <= 1.0))
    if "bot/peer" in ratios and "throughput" in ratios["bot/peer"]:
        what = "unique texts" if args.unique_texts else "repeated texts (use --unique-texts)"
        goals.append((f"bot throughput >= 0.6 x the peer's ({what})", ratios["bot/peer"]["throughput"] >= 0.6))
    if summary["p99_at_200_ms"].get("bot"):
        what = "FAQ traffic" if args.mix == "faq" else "the whole mix (use --mix faq)"
        goals.append((f"bot p99 at 200 msg/s <= 15 ms ({what})", summary["p99_at_200_ms"]["bot"] <= 15))
    for goal, met in goals:
        print(f"goal: {goal}: {'met' if met else 'NOT met'}")
    return summary


def server_cpu_ms(result: RunResult) -> float | None:
    """CPU milliseconds the server processes spent per answered push in a run."""
    ok = result.figures()["ok"]
    busy = sum(v for k, v in result.cpu.items() if k not in ("host_busy_pct", "generator_pct"))
    return busy / 100 * result.elapsed / ok * 1000 if ok and busy else None


#: What load.py measures, in this order: the bot as deployed, the bot with a fixed decision
#: (benchmarks/fixed_decision_app.py), the WeRoBot peer (benchmarks/werobot_peer.py), the floor
#: (bare + a nonce in Redis) and the bare endpoint (benchmarks/bare_endpoint.py).
TARGETS = ("bot", "bot_use", "fixed", "peer", "floor", "bare")
_BOT_APPS = {"bot": "wsgi:app", "bot_use": "wsgi:app", "fixed": "benchmarks.fixed_decision_app:app"}
#: bot_use: the bot with the cheaper embedder (BOT_EMBEDDER=use) and its own calibration.
_BOT_ENV = {"bot_use": {"BOT_EMBEDDER": "use", "BOT_UNDERSTANDING_FILE": str(ROOT / "config" / "understanding-use.json")}}
_OTHER_APPS = {"peer": "benchmarks.werobot_peer:app", "floor": "benchmarks.bare_endpoint:app",
               "bare": "benchmarks.bare_endpoint:app"}


def measure(target: str, creds: Credentials, var_dir: Path, signer: PushSigner, mix: MessageMix,
            args) -> list[RunResult]:
    """Start one target, run every plan against it, stop it."""
    if target in _BOT_APPS:
        with bot_stack(creds, var_dir, args.workers, args.log_level, _BOT_ENV.get(target),
                       app=_BOT_APPS[target]) as stack:
            return run_target(target, stack.bot.base_url, signer, mix, args, stack.storage,
                              lambda: process_groups(stack.bot, stack.redis))
    if target == "bare":
        with bare_stack(creds, var_dir, args.workers, args.log_level) as bare:
            return run_target(target, bare.base_url, signer, mix, args, processes=lambda: process_groups(bare))
    redis_server = RedisServer(var_dir / "redis", port=free_port()).start()
    try:
        with bare_stack(creds, var_dir, args.workers, args.log_level, redis_server.url, _OTHER_APPS[target]) as other:
            return run_target(target, other.base_url, signer, mix, args,
                              processes=lambda: process_groups(other, redis_server))
    finally:
        redis_server.stop()


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=12.0, help="seconds per run (default 12)")
    parser.add_argument("--rates", default="50,100,200,400",
                        type=lambda s: [float(x) for x in s.split(",") if x], help="offered msg/s, comma-separated")
    parser.add_argument("--max-concurrency", type=int, default=32,
                        help="connections of the closed-loop max-throughput run (0: no such run)")
    parser.add_argument("--max-count", type=int, default=20000, help="pushes prepared for the max-throughput run")
    parser.add_argument("--workers", type=int, default=multiprocessing.cpu_count() * 2 + 1,
                        help="gunicorn workers for both targets (default: the bot's, 2 x cores + 1)")
    parser.add_argument("--threads", type=int, default=64, help="generator threads (connections) in open-loop runs")
    parser.add_argument("--log-level", default="INFO", help="BOT_LOG_LEVEL of both targets (default INFO, as deployed)")
    parser.add_argument("--only", type=lambda v: [t for t in v.split(",") if t],
                        help=f"comma-separated targets to measure, of {','.join(TARGETS)}")
    parser.add_argument("--fixed-decision", action="store_true",
                        help="also measure 'fixed': the bot with the understanding step replaced by one FAQ answer")
    parser.add_argument("--unique-texts", action="store_true", help="no two pushes carry the same text")
    parser.add_argument("--mix", choices=("all", "faq"), default="all",
                        help="the message mix (default) or FAQ questions only")
    parser.add_argument("--json", help="also write the figures to this file")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    creds = Credentials.new()
    signer = PushSigner(creds)
    mix = MessageMix(kinds=("faq",) if args.mix == "faq" else (), unique=args.unique_texts)
    targets = args.only or [t for t in TARGETS if (t != "fixed" or args.fixed_decision) and t != "bot_use"]
    if "peer" in targets and importlib.util.find_spec("werobot") is None:
        print("no peer: pip install -r benchmarks/requirements.txt to measure WeRoBot too")
        targets.remove("peer")
    print(f"targets {', '.join(targets)}; mix {args.mix}{', unique texts' if args.unique_texts else ''}")
    print(f"{args.workers} gunicorn workers x {os.environ.get('BOT_THREADS', '4')} threads per target; "
          f"{args.duration:g} s per run; generator: {args.threads} open-loop threads; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} (other work skews the figures)")
    results: list[RunResult] = []
    with tempfile.TemporaryDirectory(prefix="wxbot-load-") as tmp:
        for target in targets:
            results += measure(target, creds, Path(tmp) / target, signer, mix, args)
    summary = report(results, args)
    if args.json:
        data = {"args": {k: v for k, v in vars(args).items()}, "summary": summary,
                "runs": [{"target": r.target, "run": r.label, **r.figures(), **r.cpu, "replies": r.reply_check,
                          "routes": r.routes} for r in results]}
        Path(args.json).write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
