"""Issue 6: the user never sees WeChat's failure message — slow WeChat, slow handlers, Redis outages, floods."""
from __future__ import annotations

import time

import pytest
import requests
from rq import SimpleWorker

from bot import create_app, jobs
from bot.decision import RouteDecision
from bot.jobs import Outbox
from bot.redis_server import Breaker, RedisServer, redis_deadline
from bot.sim.fake_wechat import FakeWeChat
from bot.sim.pusher import PushBuilder, Pusher
from config.settings import Settings
from tests.conftest import free_port
from tests.helpers import AES_KEY, APP_ID, APP_SECRET, TOKEN, ServedApp, SlowProxy, bot_settings, until

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
    """Stands in for the router where a test needs it broken or odd: `route` is the given function."""

    def __init__(self, route):
        self.route = route

    def health(self):
        return {"count": 0, "error": None}


@pytest.fixture
def blocking_text_handler():
    """The text handler registered as blocking, and slowed by a second as one waiting on a slow
    outside service would be; the original comes back afterwards."""
    import handlers
    from handlers.text import text_message

    def slow_text(message, ctx):
        time.sleep(1.0)
        return text_message(message, ctx)

    handlers.on_message("text", blocking=True)(slow_text)
    yield
    handlers.on_message("text")(text_message)
    assert not handlers.is_blocking(build_message("text"))


def build_message(kind):
    from wechatpy import parse_message

    return parse_message(build.message("oAnyone", kind) if kind != "text" else build.text("oAnyone", "x"))


def test_a_blocking_handler_over_budget_answers_success_now_and_the_reply_later(
        redis_server, redis_client, blocking_text_handler):
    with FakeWeChat(app_id=APP_ID, app_secret=APP_SECRET, token=TOKEN, encoding_aes_key=AES_KEY, mode="safe") as fake:
        settings = bot_settings(redis_server.url, WECHAT_API_BASE_URL=fake.base_url, BOT_REPLY_BUDGET=0.3,
                                BOT_REDIS_TIMEOUT=0.1)
        app = create_app(settings)
        svc = app.extensions["wxbot"]
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
        history = svc.storage.history(user, 5)                       # its state was written as it went
        assert history and history[0]["route"] == "faq"


def test_a_slow_redis_costs_state_never_the_reply(redis_server):
    """Every Redis request takes 0.5 s (under the client's 0.8 s timeout): the push gets
    its full answer within the budget, because no Redis call starts past budget less one timeout."""
    with SlowProxy(int(redis_server.url.rsplit(":", 1)[1].split("/")[0])) as proxy:
        app = create_app(bot_settings(proxy.url, BOT_REPLY_BUDGET=1.6, BOT_REDIS_TIMEOUT=0.8))
        svc = app.extensions["wxbot"]
        with ServedApp(app) as served:
            pusher = Pusher(served.url + "/wechat", TOKEN, APP_ID, AES_KEY, mode="safe", timeout=5.0)
            user = "oSlowRedis000000000000000001"
            assert "提现" in say(pusher, user, "提现失败怎么办")["Content"]    # connections made, state kept
            proxy.delay, proxy.forwarded = 0.5, 0
            started = time.monotonic()
            reply = say(pusher, user, "客服让我把钱转到安全账户，说不转就冻结")  # a scam: many Redis calls
            elapsed = time.monotonic() - started
        assert "安全账户" in reply["Content"]
        # Calls start until 0.8 s in (1.6 budget - 0.8 timeout): the admission at 0 s and one at 0.5 s.
        assert 1 <= proxy.forwarded <= 2, proxy.forwarded
        assert elapsed < 1.6 + 0.5, elapsed   # without the deadline: 5+ round trips of 0.5 s
        assert svc.breaker.failed_at == 0.0   # slow is not down: the next push uses Redis again


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


def test_no_redis_call_starts_past_the_deadline():
    breaker, calls = Breaker(rest=2.0), []
    with redis_deadline(10):
        assert breaker.run(lambda: calls.append(1) or "ran", "skipped") == "ran"
        with redis_deadline(-1):
            assert breaker.run(lambda: calls.append(2) or "ran", "skipped") == "skipped"
            assert not breaker.usable()
        assert breaker.usable()
    assert calls == [1] and breaker.failed_at == 0.0          # skipped for time is not a failure


def test_past_the_deadline_a_notice_is_held_not_lost(redis_client):
    outbox = Outbox(redis_client, f"q{time.time_ns()}")
    with redis_deadline(-1):
        assert outbox.send_text("oLate0000000000000000000001", "稍后") is None
    assert len(outbox.backlog) == 1 and not outbox.breaker.resting()
    outbox.flush()
    assert outbox.queue.count == 1 and not outbox.backlog


def test_the_budget_leaves_room_for_one_redis_call():
    with pytest.raises(ValueError, match="BOT_REDIS_TIMEOUT"):
        Settings.from_env({}, BOT_REPLY_BUDGET=1.0, BOT_REDIS_TIMEOUT=1.0)
    assert Settings.from_env({}).redis_window == 3.0


@pytest.mark.parametrize("unix", [True, False])
def test_the_queue_workers_client_waits_out_a_blocking_dequeue(tmp_path, unix):
    """RQ's BLMOVE outlasts BOT_REDIS_TIMEOUT; the worker's own client must not time it out
    (over the embedded server's unix socket and over TCP alike)."""
    from bot.commands.worker import WORKER_TTL
    from bot.redis_server import connect_queue_worker

    server = RedisServer(tmp_path, port=None if unix else free_port()).start()
    try:
        settings = Settings.from_env({}, REDIS_URL=server.url, BOT_REDIS_TIMEOUT=0.2, BOT_REPLY_BUDGET=1.0)
        client = connect_queue_worker(settings, WORKER_TTL - 15)
        kwargs = client.connection_pool.connection_kwargs
        assert kwargs["socket_timeout"] >= WORKER_TTL - 15 and kwargs["health_check_interval"] > 0
        assert client.blmove("empty", "elsewhere", 1) is None       # five times the request path's deadline
    finally:
        server.stop()
