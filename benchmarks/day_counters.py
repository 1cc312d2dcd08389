"""What the console's per-day counters cost a push: the reply's last round trip with and without them.

    .venv/bin/python benchmarks/day_counters.py [--pushes 2000] [--rounds 3]

Each push's last round trip (`Storage.finish_push`: the reply for retries and
the route count) is timed as the endpoint sends it, once with only those and
once with `bot.counters.count_push` added to the same pipeline (route, the
router's own route, the FAQ entry, the day's TTL), in alternating rounds on a
real Redis server on loopback. Printed: bot CPU and wall time per push, and
the ratio of the two in this run.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from zoneinfo import ZoneInfo  # noqa: E402

from bot.counters import count_push  # noqa: E402
from bot.redis_server import RedisServer  # noqa: E402
from bot.sim.stack import free_port  # noqa: E402
from bot.storage import Storage  # noqa: E402

BODY = "<xml><ToUserName><![CDATA[oUser]]></ToUserName><Content><![CDATA[提现失败请先确认……]]></Content></xml>".encode()
TZ = ZoneInfo("Asia/Shanghai")


def run(storage: Storage, pushes: int, counted: bool, tag: str) -> tuple[float, float]:
    notes = {"route": "faq", "asked": "faq", "faq_id": "withdraw_failed"}
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(pushes):
        writes = [count_push(storage, "faq", notes, time.time(), TZ)] if counted else []
        storage.finish_push(f"{tag}:{i}", BODY, "application/xml", 120, "faq", writes)
    return (time.process_time() - cpu) / pushes, (time.perf_counter() - wall) / pushes


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pushes", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="day-counters-") as tmp:
        server = RedisServer(Path(tmp), port=free_port()).start()
        try:
            storage = Storage(server.client(), "bench")
            run(storage, 200, True, "warm")
            results = {False: [], True: []}
            for r in range(args.rounds):
                for counted in (False, True):
                    results[counted].append(run(storage, args.pushes, counted, f"r{r}{counted}"))
        finally:
            server.stop()
    for counted, label in ((False, "reply + route count"), (True, "… + day counters")):
        cpu = statistics.median(c for c, _ in results[counted]) * 1e6
        wall = statistics.median(w for _, w in results[counted]) * 1e6
        print(f"{label:<22} CPU {cpu:7.1f} µs/push   wall {wall:7.1f} µs/push")
    ratio_cpu = statistics.median(c for c, _ in results[True]) / statistics.median(c for c, _ in results[False])
    ratio_wall = statistics.median(w for _, w in results[True]) / statistics.median(w for _, w in results[False])
    print(f"with / without: CPU ×{ratio_cpu:.2f}, wall ×{ratio_wall:.2f} (same round trip count: one)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
