"""`python -m bot redis status|stop`: the embedded Redis server (used when REDIS_URL is unset);
with a Sentinel REDIS_URL, `status` says which server is the primary now."""
from __future__ import annotations


def run(args) -> int:
    from bot.redis_server import SENTINEL_SCHEME, RedisServer, sentinel_service, stop_embedded
    from config.settings import Settings

    settings = Settings.from_env()
    if settings.REDIS_URL.startswith(SENTINEL_SCHEME) and args.action == "status":
        sentinel, service, _ = sentinel_service(settings.REDIS_URL, socket_timeout=settings.BOT_REDIS_TIMEOUT)
        host, port = sentinel.discover_master(service)
        replicas = ", ".join(f"{h}:{p}" for h, p in sentinel.discover_slaves(service)) or "none"
        print(f"Sentinel service {service}: primary {host}:{port}; replicas: {replicas}")
        return 0
    if settings.REDIS_URL:
        print("REDIS_URL is set: the bot uses that server, not the embedded one.")
        return 0
    if args.action == "stop":
        print("stopped" if stop_embedded(settings.BOT_VAR_DIR) else "not running")
        return 0
    from pathlib import Path

    server = RedisServer(Path(settings.BOT_VAR_DIR) / "redis")
    print(f"{'running' if server.alive() else 'not running'}: {server.url}")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("redis", help="status or stop of the embedded Redis server")
    parser.add_argument("action", choices=["status", "stop"])
    parser.set_defaults(func=run)
