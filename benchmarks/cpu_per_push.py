"""CPU time per push, in-process: the bot's WSGI app against the bare wechatpy endpoint.

    .venv/bin/python benchmarks/cpu_per_push.py [--pushes 1000] [--rounds 5] [--profile 25]

The bot, the bot with a fixed decision instead of understanding ("fixed",
benchmarks/fixed_decision_app.py), the WeRoBot peer (benchmarks/werobot_peer.py,
when benchmarks/requirements.txt is installed), the bare endpoint and the floor
(bare + a nonce in Redis, as in load.py) get the same safe-mode text pushes (benchmarks/load.py's message mix,
signed and encrypted as WeChat does), called straight through WSGI in this
process, one after another. The figure is process CPU time per push (all
threads): steadier than wall-clock throughput on a shared machine, though a
busy neighbour still moves it by a third, hence the alternating rounds.
The bot talks to a real Redis server on loopback; that server's own CPU is
measured separately (it shares the machine's cores under load).

It also prints the bot's Redis traffic per push: commands the server ran
(INFO commandstats, the commands inside scripts included) and round trips
(each command or pipeline this process sent).

--profile N then profiles one more round of the bot and prints its N most
expensive functions (cProfile on CPU time, cumulative and own time).
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from werkzeug.test import EnvironBuilder  # noqa: E402

from benchmarks.load import Credentials, MessageMix, PushSigner, build_pushes, cpu_seconds  # noqa: E402
from bot.redis_server import RedisServer  # noqa: E402
from bot.sim.stack import free_port  # noqa: E402


def environs(requests: list[tuple[str, bytes]]) -> list[dict]:
    """WSGI environs built ahead of the timed loop, as gunicorn would hand them over."""
    built = []
    for path, body in requests:
        builder = EnvironBuilder(path=path, method="POST", data=body, content_type="text/xml")
        built.append(builder.get_environ())
        builder.close()
    return built


def drive(app, batch: list[dict]) -> tuple[float, dict[str, int]]:
    """Call the app with each environ; (CPU seconds used, count per status)."""
    statuses: dict[str, int] = {}

    def start_response(status, headers, exc_info=None):
        statuses[status] = statuses.get(status, 0) + 1

    started = time.process_time()
    for environ in batch:
        for _chunk in app(environ, start_response):
            pass
    return time.process_time() - started, statuses


def redis_traffic(app, batch: list[dict], server: RedisServer) -> tuple[float, float]:
    """(commands the server ran, round trips this process made) per push over `batch`."""
    import redis.connection

    sends = [0]
    original = redis.connection.AbstractConnection.send_packed_command

    def counting(self, command, check_health=True):
        sends[0] += 1
        return original(self, command, check_health)

    def commands() -> int:
        stats = server.client().info("commandstats")
        return sum(v["calls"] for k, v in stats.items() if k not in ("cmdstat_info", "cmdstat_config|resetstat"))

    server.client().config_resetstat()
    redis.connection.AbstractConnection.send_packed_command = counting
    try:
        drive(app, batch)
    finally:
        redis.connection.AbstractConnection.send_packed_command = original
    return commands() / len(batch), sends[0] / len(batch)


def fresh(signer, mix, count, tag):
    return environs(build_pushes(signer, mix, count, tag))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pushes", type=int, default=1000, help="pushes per app per round (default 1000)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per app (default 5)")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="print the top N functions")
    parser.add_argument("--profile-app", default="bot", help="which app --profile profiles (default bot)")
    parser.add_argument("--unique-texts", action="store_true",
                        help="no two pushes carry the same text (no understanding cache hits), as in load.py")
    args = parser.parse_args(argv)

    creds = Credentials.new()
    os.environ.update(creds.env())
    os.environ.setdefault("BOT_LOG_LEVEL", "WARNING")
    signer, mix = PushSigner(creds), MessageMix(unique=args.unique_texts)
    with tempfile.TemporaryDirectory(prefix="cpu-per-push-") as tmp:
        redis_server = RedisServer(Path(tmp) / "redis", port=free_port()).start()
        try:
            run(args, signer, mix, redis_server, tmp)
        finally:
            redis_server.stop()
    return 0


def run(args, signer, mix, redis_server, tmp) -> None:
    from benchmarks.bare_endpoint import create_bare_app
    from bot.app import create_app

    os.environ.update({"REDIS_URL": redis_server.url, "BOT_VAR_DIR": tmp,
                       "WECHAT_API_BASE_URL": "http://127.0.0.1:9"})  # never called on the request path
    from config.settings import Settings

    # The floor is bare_endpoint.py with Redis: it also remembers each nonce (see load.py).
    apps = {"bare": create_bare_app(Settings.from_env(REDIS_URL="")), "floor": create_bare_app(), "bot": create_app()}
    from benchmarks.fixed_decision_app import create_fixed_app

    apps["fixed"] = create_fixed_app()  # the bot with the understanding step replaced by one FAQ answer
    try:
        from benchmarks.werobot_peer import create_peer_app
    except ImportError:
        print("no peer: pip install -r benchmarks/requirements.txt to measure WeRoBot too")
    else:
        apps["peer"] = create_peer_app()
    for name, app in apps.items():
        drive(app, fresh(signer, mix, 300, f"w{name}"))  # warm caches, lazy imports
    # Rounds alternate between the apps so a burst of noise on the machine hits both alike.
    per_push = {name: [] for name in apps}
    redis_ms = {name: [] for name in apps}
    for round_no in range(args.rounds):
        for name, app in apps.items():
            batch = fresh(signer, mix, args.pushes, f"r{round_no}{name}")
            redis_before = cpu_seconds(redis_server.process.pid)
            cpu, statuses = drive(app, batch)
            if set(statuses) != {"200 OK"}:  # (bottle, the peer's framework, says "200 OK" too)
                raise SystemExit(f"{name}: unexpected statuses {statuses}")
            per_push[name].append(cpu / args.pushes * 1000)
            redis_ms[name].append((cpu_seconds(redis_server.process.pid) - redis_before) / args.pushes * 1000)
    for name, values in per_push.items():
        extra = f", redis-server {statistics.median(redis_ms[name]):.3f} ms" if name != "bare" else ""
        print(f"{name:6s} median {statistics.median(values):.3f} ms CPU per push (min {min(values):.3f}, "
              f"max {max(values):.3f}, {args.rounds} rounds of {args.pushes}){extra}")
    bot, bare = statistics.median(per_push["bot"]), statistics.median(per_push["bare"])
    print(f"bot/bare CPU ratio {bot / bare:.2f}, floor/bare {statistics.median(per_push['floor']) / bare:.2f} "
          f"(in-process: under gunicorn each blocking Redis round trip costs more, see load.py)")
    if "peer" in per_push:
        peer = statistics.median(per_push["peer"])
        print(f"bot/peer CPU ratio {bot / peer:.2f}, fixed/peer {statistics.median(per_push['fixed']) / peer:.2f} "
              f"(fixed: the bot with a fixed decision instead of understanding)")
    commands, trips = redis_traffic(apps["bot"], fresh(signer, mix, args.pushes, "traffic"), redis_server)
    print(f"bot Redis traffic per push: {commands:.1f} commands (scripts' included), {trips:.2f} round trips")
    if args.profile:
        profile(apps[args.profile_app], fresh(signer, mix, args.pushes, "profiled"), args.profile)


def profile(app, batch, top: int) -> None:
    """The app's most expensive functions in CPU time (time spent waiting on Redis is not counted)."""
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    drive(app, batch)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    print(out.getvalue())


if __name__ == "__main__":
    sys.exit(main())
