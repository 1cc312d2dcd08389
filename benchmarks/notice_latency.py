"""How long a handoff notice takes after the bot has been idle: seconds from the user's push to the notice.

    .venv/bin/python benchmarks/notice_latency.py [--idle 0,10,65] [--rounds 2]

The bot runs as deployed (gunicorn + queue worker, real Redis on a loopback
port, the fake WeChat; see benchmarks/load.py, default settings, so the agent
cache refreshes every 5 s). For each idle spell a new user says hello, the
stack is left alone for that long, then the user asks for a person; the time
from the push's answer to the notice reaching the fake WeChat is printed, with
its ratio to the no-idle case. Before issue 10 the queue worker's blocking
dequeue timed out on the 1 s request-path socket timeout and RQ backed off
1…32 s, so notices after an idle spell came seconds late.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.load import Credentials, bot_stack  # noqa: E402


def notice_after_idle(stack, user: str, idle: float) -> float:
    fake = stack.fake
    fake.user_says(user, "你好")
    time.sleep(idle)
    fake.user_says(user, "转人工")
    asked = time.monotonic()
    fake.wait_for_sent(user, 1, timeout=120)
    return time.monotonic() - asked


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--idle", default="0,10,65", help="idle spells in seconds, comma-separated")
    parser.add_argument("--rounds", type=int, default=2, help="notices per idle spell")
    args = parser.parse_args()
    spells = [float(x) for x in args.idle.split(",")]
    always_open = str(ROOT / "tests" / "data" / "hours_always_open.json")  # agents on duty whenever it runs
    with tempfile.TemporaryDirectory() as tmp, bot_stack(Credentials.new(), Path(tmp), workers=2, log_level="WARNING",
                                                          extra_env={"BOT_HOURS_FILE": always_open}) as stack:
        deadline = time.monotonic() + 30
        while not stack.storage.cached_agents() and time.monotonic() < deadline:
            time.sleep(0.2)
        results = {}
        for n, idle in enumerate(spells):
            results[idle] = [notice_after_idle(stack, f"oNoticeLatency{n:03d}{r:03d}0000000001", idle)
                             for r in range(args.rounds)]
            for r in range(args.rounds):  # free the agent (the session may have ended already)
                user = f"oNoticeLatency{n:03d}{r:03d}0000000001"
                if stack.fake.session_of(user):
                    stack.fake.agent_close(stack.fake.session_of(user), user)
        log = (stack.bot.log_dir / "worker.log").read_text(encoding="utf-8", errors="replace")
    base = max(min(results[spells[0]]), 1e-3)
    print(f"{'idle s':>7} {'notice s (each)':>24} {'worst':>7} {'worst / first spell':>20}")
    for idle, times in results.items():
        print(f"{idle:7.0f} {' '.join(f'{t:.3f}' for t in times):>24} {max(times):7.3f} {max(times) / base:20.1f}")
    print(f"worker log lines with a Redis socket timeout: {log.count('Timeout reading from socket')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
