"""Issue 6: the user never sees WeChat's failure message — slow WeChat, slow handlers, Redis outages, floods."""
from __future__ import annotations

import time

import pytest
import requests
from rq import SimpleWorker

from bot import create_app, jobs
from bot.decision import RouteDecision
from bot.redis_server import RedisServer
from bot.sim.fake_wechat import FakeWeChat
from bot.sim.pusher import PushBuilder, Pusher
from tests.conftest import free_port
from tests.helpers import AES_KEY, APP_ID, APP_SECRET, TOKEN, ServedApp, bot_settings, until

build = PushBuilder()


def say(pusher, user, text):
    response = pusher.push(build.text(user, text))
    assert response.status_code == 200, response.text
    return pusher.decode_reply(response)


def test_slow_or_unreachable_wechat_api_never_delays_the_reply(redis_server):
    """Every API path hangs 30 s; replies still come within WeChat's own 5-second deadline."""
    with FakeWeChat(app_id=APP_ID, app_secret=APP_SECRET) as fake:
        for path in ("/cgi-bin/token", "/message/custom/send", "/getonlinekflist", "/getkflist", "/getwaitcase"):
            fake.inject(path, delay=30, times=100)
        app = create_app(bot_settings(redis_server.url, WECHAT_API_BASE_URL=fake.base_url))
        with ServedApp(app) as served:
            pusher = Pusher(served.url + "/wechat", TOKEN, APP_ID, AES_KEY, mode="safe", timeout=5.0)
            assert say(pusher, "oSlowApi00000000000000000001", "转人工")["MsgType"] == "transfer_customer_service"
            assert "提现" in say(pusher, "oSlowApi00000000000000000002", "提现失败怎么办")["Content"]
            assert "KF1003" in say(pusher, "oSlowApi00000000000000000003", "KF1003 是真的客服吗")["Content"]
            assert app.extensions["wxbot"].outbox.queue.count >= 1   # the notice waits in the queue
        assert fake.calls == []                                        # the request path called nothing


class StubRouter:
    """Stands in for the router where a test needs it slow, broken or odd: `route` is the given function."""

    def __init__(self, route):
        self.route = route

    def health(self):
        return {"count": 0, "error": None}


def slow(router, delay):
    def route(text, conversation=None, now=None):
        time.sleep(delay)
        return router.route(text, conversation, now)
    return StubRouter(route)


def test_a_handler_over_budget_answers_success_now_and_the_reply_later(redis_server, redis_client):
    with FakeWeChat(app_id=APP_ID, app_secret=APP_SECRET, token=TOKEN, encoding_aes_key=AES_KEY, mode="safe") as fake:
        settings = bot_settings(redis_server.url, WECHAT_API_BASE_URL=fake.base_url, BOT_REPLY_BUDGET=0.3)
        app = create_app(settings)
        svc = app.extensions["wxbot"]
        svc.router = slow(svc.router, delay=1.0)
        user = "oOverBudget000000000000000001"
        with ServedApp(app) as served:
            fake.bot_url = served.url + "/wechat"
            assert fake.user_says(user, "提现失败怎么办") is None         # "success": nothing to show yet
            until(lambda: svc.outbox.queue.count >= 1, timeout=5, what="the late answer queued")
        jobs.configure(settings, redis_client)
        SimpleWorker([svc.outbox.queue], connection=redis_client).work(burst=True, max_jobs=5)
        late = fake.sent_to(user)
        assert len(late) == 1 and "提现" in late[0]["content"]
        assert fake.push_errors == [] and fake.retries == []


def test_redis_stopped_and_restarted_mid_conversation(tmp_path):
    server = RedisServer(tmp_path / "redis", port=free_port()).start()
    try:
        app = create_app(bot_settings(server.url, BOT_REDIS_RETRY=0.5))
        svc = app.extensions["wxbot"]
        user = "oRedisOutage0000000000000001"
        with ServedApp(app) as served:
            pusher = Pusher(served.url + "/wechat", TOKEN, APP_ID, AES_KEY, mode="safe")
            assert "提现" in say(pusher, user, "提现失败怎么办")["Content"]
            assert requests.get(served.url + "/healthz", timeout=5).json()["status"] == "ok"

            server.stop()
            # Answers, verification and scam alerts come from memory.
            assert "冻结" in say(pusher, user, "账户被冻结了怎么办")["Content"]
            assert "仿冒" in say(pusher, user, "wa11et.example.com 是官网吗")["Content"]
            assert "安全账户" in say(pusher, user, "客服让我把钱转到安全账户")["Content"]
            assert say(pusher, user, "转人工")["MsgType"] == "transfer_customer_service"
            assert len(svc.outbox.backlog) >= 1                       # the notice is held, not lost
            health = requests.get(served.url + "/healthz", timeout=5).json()
            assert health["status"] == "degraded" and health["redis"] == "down"

            server.start()
            time.sleep(0.6)                                           # the breaker's rest
            assert "提现" in say(pusher, user, "提现失败怎么办")["Content"]
            assert len(svc.outbox.backlog) == 0 and svc.outbox.queue.count >= 1
            assert requests.get(served.url + "/healthz", timeout=5).json()["status"] == "ok"
            xml = build.text(user, "退款怎么处理")                      # dedupe works again
            first, retry = pusher.push(xml), pusher.retry(xml)
            assert first.content == retry.content
            assert svc.storage.handled_counts()
    finally:
        server.stop()


def test_a_flooding_user_gets_one_polite_reply_then_silence(redis_server):
    app = create_app(bot_settings(redis_server.url, BOT_USER_RATE=3))
    with ServedApp(app) as served:
        pusher = Pusher(served.url + "/wechat", TOKEN, APP_ID, AES_KEY, mode="safe")
        flooder, other = "oFlooder000000000000000000001", "oCalmUser00000000000000000001"
        replies = [say(pusher, flooder, "提现失败怎么办") for _ in range(5)]
        assert all(r["MsgType"] == "text" for r in replies[:3])
        assert "稍等一分钟" in replies[3]["Content"]
        assert replies[4] is None
        assert say(pusher, other, "你好")["MsgType"] == "text"


def test_everyone_over_the_global_rate_gets_a_short_busy_reply(redis_server):
    app = create_app(bot_settings(redis_server.url, BOT_GLOBAL_RATE=2))
    with ServedApp(app) as served:
        pusher = Pusher(served.url + "/wechat", TOKEN, APP_ID, AES_KEY, mode="safe")
        now = int(time.time())
        replies = [pusher.decode_reply(pusher.push(build.text(f"oGlobal{i:021d}", "提现失败"), timestamp=now))
                   for i in range(4)]
        busy = [r for r in replies if "咨询的人有点多" in r["Content"]]
        assert busy, replies


def test_forced_handler_error_is_a_friendly_reply_not_a_500(redis_server):
    def broken(text, conversation=None, now=None):
        raise RuntimeError("boom")

    app = create_app(bot_settings(redis_server.url), router=StubRouter(broken))
    with ServedApp(app) as served:
        pusher = Pusher(served.url + "/wechat", TOKEN, APP_ID, AES_KEY, mode="safe")
        reply = say(pusher, "oBroken00000000000000000001", "你好")
        assert "开了个小差" in reply["Content"]


@pytest.mark.parametrize("decision", [RouteDecision(route="faq", reply="x" * 5000)])
def test_overlong_replies_are_cut_to_wechats_limit(redis_server, decision):
    app = create_app(bot_settings(redis_server.url),
                     router=StubRouter(lambda text, conversation=None, now=None: (decision, conversation)))
    with ServedApp(app) as served:
        pusher = Pusher(served.url + "/wechat", TOKEN, APP_ID, AES_KEY, mode="safe")
        reply = say(pusher, "oLong0000000000000000000001", "你好")
        assert len(reply["Content"].encode("utf-8")) <= 2048


def test_a_handoff_during_a_redis_outage_still_gets_its_notice(tmp_path):
    """The notice waits in memory; the allowance the message opened travels with it."""
    server = RedisServer(tmp_path / "redis", port=free_port()).start()
    try:
        with FakeWeChat(app_id=APP_ID, app_secret=APP_SECRET, token=TOKEN, encoding_aes_key=AES_KEY,
                        mode="safe") as fake:
            settings = bot_settings(server.url, WECHAT_API_BASE_URL=fake.base_url, BOT_REDIS_RETRY=0.3)
            app = create_app(settings)
            svc = app.extensions["wxbot"]
            user = "oOutageHandoff00000000000001"
            with ServedApp(app) as served:
                fake.bot_url = served.url + "/wechat"
                server.stop()
                assert fake.user_says(user, "转人工")["MsgType"] == "transfer_customer_service"
                server.start()
                time.sleep(0.4)
                fake.user_says("oSomeoneElse0000000000000001", "你好")   # any later request flushes the backlog
            jobs.configure(settings, server.client())
            SimpleWorker([svc.outbox.queue], connection=server.client()).work(burst=True, max_jobs=5)
            notice = fake.sent_to(user)
            assert len(notice) == 1 and "转接" in notice[0]["content"]
    finally:
        server.stop()


def test_closed_hours_during_a_redis_outage_does_not_promise_a_ticket(tmp_path):
    from tests.helpers import NEVER_OPEN

    server = RedisServer(tmp_path / "redis", port=free_port()).start()
    try:
        app = create_app(bot_settings(server.url, BOT_HOURS_FILE=NEVER_OPEN, BOT_REDIS_RETRY=0.3))
        with ServedApp(app) as served:
            pusher = Pusher(served.url + "/wechat", TOKEN, APP_ID, AES_KEY, mode="safe")
            assert "回复一条消息" in say(pusher, "oClosedUp0000000000000000001", "转人工")["Content"]
            server.stop()
            reply = say(pusher, "oClosedDown000000000000000001", "转人工")["Content"]
            assert "非工作时间" in reply and "回复一条消息" not in reply and "400-888-6688" in reply
    finally:
        server.stop()
