"""Test helpers: settings for a test bot, an app served on loopback in a thread."""
from __future__ import annotations

import threading
import uuid
from pathlib import Path

from werkzeug.serving import make_server

from config.settings import Settings

TOKEN = "test-token"
APP_ID = "wxtest0000000001"
APP_SECRET = "test-secret"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
DATA = Path(__file__).resolve().parent / "data"
ALWAYS_OPEN = str(DATA / "hours_always_open.json")
#: A schedule with no working hours at all: agents are never on duty.
NEVER_OPEN = str(DATA / "hours_never_open.json")


def bot_env(redis_url: str, **extra) -> dict[str, str]:
    """Environment for a bot under test; a fresh key prefix so tests never share state."""
    env = {
        "WECHAT_TOKEN": TOKEN, "WECHAT_APP_ID": APP_ID, "WECHAT_APP_SECRET": APP_SECRET,
        "WECHAT_ENCODING_AES_KEY": AES_KEY, "REDIS_URL": redis_url,
        "BOT_REDIS_PREFIX": f"t{uuid.uuid4().hex[:8]}", "BOT_QUEUE_NAME": f"q{uuid.uuid4().hex[:8]}",
        "BOT_LOG_LEVEL": "WARNING", "BOT_HOURS_FILE": ALWAYS_OPEN,
    }
    env.update({k: str(v) for k, v in extra.items()})
    return env


def bot_settings(redis_url: str, **extra) -> Settings:
    return Settings.from_env(bot_env(redis_url, **extra))


class ServedApp:
    """A Flask app on 127.0.0.1 in a background thread (threaded, like a gthread worker)."""

    def __init__(self, app):
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self) -> "ServedApp":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)


def until(predicate, timeout: float = 15.0, what: str = "condition"):
    """Poll `predicate` (bounded) until it returns something truthy, and return that; fail after `timeout`."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def agents_online(fake, storage, every: tuple[str, ...], online: tuple[str, ...]) -> None:
    """Put exactly `online` of the agents `every` on duty in the fake WeChat, and wait (bounded)
    until the worker's agent cache says so."""
    for account in every:
        fake.set_agent_online(account, account in online)

    def cache_matches():
        cached = storage.cached_agents()
        return cached is not None and sorted(a["account"] for a in cached) == sorted(online)
    until(cache_matches, what=f"agent cache {online}")


class SlowProxy:
    """A TCP proxy on 127.0.0.1 in front of a real server that holds each request for `delay`
    seconds (a slow network or an overloaded Redis), counting the requests it forwards."""

    def __init__(self, port: int, delay: float = 0.0):
        import socket

        self.upstream = ("127.0.0.1", port)
        self.delay = delay
        self.forwarded = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.open = True
        self.threads = [threading.Thread(target=self._accept, daemon=True)]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.listener.getsockname()[1]}/0"

    def __enter__(self) -> "SlowProxy":
        self.threads[0].start()
        return self

    def __exit__(self, *exc) -> None:
        self.open = False
        self.listener.close()
        for thread in self.threads:
            thread.join(timeout=5)

    def _accept(self) -> None:
        import socket

        while self.open:
            try:
                client, _ = self.listener.accept()
            except OSError:  # the 0.2 s tick, or closed
                continue
            server = socket.create_connection(self.upstream, timeout=5)
            for source, sink, slow in ((client, server, True), (server, client, False)):
                thread = threading.Thread(target=self._pump, args=(source, sink, slow), daemon=True)
                self.threads.append(thread)
                thread.start()

    def _pump(self, source, sink, slow: bool) -> None:
        import time

        source.settimeout(0.2)
        try:
            while self.open:
                try:
                    chunk = source.recv(65536)
                except TimeoutError:
                    continue
                if not chunk:
                    break
                if slow:
                    time.sleep(self.delay)
                    self.forwarded += 1
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.close()
                except OSError:
                    pass
