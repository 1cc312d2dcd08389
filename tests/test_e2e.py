"""End to end: multi-worker gunicorn + the queue worker + a real Redis + the fake WeChat."""
from __future__ import annotations

import threading
import time

import pytest
import redis

from bot.sim.fake_wechat import FakeWeChat
from bot.sim.pusher import PushBuilder, Pusher
from bot.sim.stack import BotProcesses
from bot.storage import Storage
from tests.helpers import AES_KEY, APP_ID, APP_SECRET, TOKEN, bot_env

AGENT = "kf1001@demo_wallet_official"


@pytest.fixture(scope="module")
def stack(redis_server, tmp_path_factory):
    fake = FakeWeChat(app_id=APP_ID, app_secret=APP_SECRET, token=TOKEN, encoding_aes_key=AES_KEY,
                      mode="safe").start()
    fake.add_agent(AGENT, "小王", online=True)
    env = bot_env(redis_server.url, WECHAT_API_BASE_URL=fake.base_url,
                  BOT_VAR_DIR=tmp_path_factory.mktemp("var"))
    bot = BotProcesses(env, web_workers=3).start()
    fake.bot_url = bot.callback_url
    storage = Storage(redis.Redis.from_url(redis_server.url), env["BOT_REDIS_PREFIX"])
    yield fake, bot, storage
    bot.stop()
    fake.stop()


def test_three_concurrent_deliveries_of_one_push_are_handled_once(stack):
    fake, bot, storage = stack
    before = sum(storage.handled_counts().values())
    pusher = Pusher(bot.callback_url, TOKEN, APP_ID, AES_KEY, mode="safe")
    xml = PushBuilder().text("oE2eRetryUser000000000000001", "提现失败怎么办")
    barrier = threading.Barrier(3)
    answers: list = [None] * 3

    def deliver(i):
        barrier.wait(timeout=10)
        answers[i] = pusher.retry(xml)  # same message, fresh timestamp/nonce/signature, as WeChat retries

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert answers[0].content == answers[1].content == answers[2].content
    assert pusher.decode_reply(answers[0])["MsgType"] == "text"
    assert sum(storage.handled_counts().values()) - before == 1


@pytest.mark.parametrize("mode", ["plaintext", "compatible", "safe"])
def test_every_mode_through_gunicorn(stack, mode):
    fake, bot, storage = stack
    pusher = Pusher(bot.callback_url, TOKEN, APP_ID, AES_KEY if mode != "plaintext" else "", mode=mode)
    reply = pusher.decode_reply(pusher.push(PushBuilder().text(f"oE2eMode{mode:0<20}", "你好")))
    assert reply["MsgType"] == "text" and reply["Content"]


def test_signature_and_replay_refused_by_gunicorn(stack):
    fake, bot, storage = stack
    pusher = Pusher(bot.callback_url, TOKEN, APP_ID, AES_KEY, mode="safe")
    ts = int(time.time())
    assert pusher.push(PushBuilder().text("oE2eReplay0000000000000001", "你好"), timestamp=ts, nonce="98765").status_code == 200
    assert pusher.push(PushBuilder().text("oE2eReplay0000000000000001", "你好"), timestamp=ts, nonce="98765").status_code == 403
    forged = Pusher(bot.callback_url, "not-the-token", APP_ID, AES_KEY, mode="safe")
    assert forged.push(PushBuilder().text("oE2eReplay0000000000000001", "你好")).status_code == 403


def test_every_kind_through_gunicorn(stack):
    fake, bot, storage = stack
    user = "oE2eKinds00000000000000000001"
    assert fake.user_event(user, "subscribe")["MsgType"] == "text"
    for kind, fields in (("image", {}), ("voice", {}), ("voice", {"recognition": "你好"}), ("video", {}),
                         ("shortvideo", {}), ("location", {}), ("link", {"url": "https://example.org"})):
        reply = fake.user_sends(user, kind, **fields)
        assert reply["MsgType"] == "text" and reply["Content"], (kind, reply)
    assert fake.user_event(user, "VIEW", url="https://wallet.example.com") is None
    assert fake.user_event(user, "LOCATION") is None
    assert "400-888-6688" in fake.user_event(user, "CLICK", key="MENU_CONTACT")["Content"]
    assert fake.push_errors == []


def test_handoff_notice_is_sent_by_the_queue_worker_and_agent_session_silences_the_bot(stack):
    fake, bot, storage = stack
    user = "oE2eHandoff000000000000000001"
    reply = fake.user_says(user, "转人工")
    assert reply["MsgType"] == "transfer_customer_service"
    notice = fake.wait_for_sent(user, 1, timeout=20)[0]
    assert "人工" in notice["content"]
    assert fake.session_of(user) == AGENT and fake.session_text(user)  # the bot chose: kfsession/create
    fake.wait_pushes(timeout=10)
    assert storage.get_kf_session(user)["account"] == AGENT
    assert fake.user_says(user, "我的提现失败了") is None       # WeChat routes it to the agent, not the bot
    assert fake.agent_inbox(AGENT)[-1]["content"] == "我的提现失败了"
    fake.agent_close(AGENT, user)
    fake.wait_pushes(timeout=10)
    assert storage.get_kf_session(user) is None
    assert fake.token_fetches == 1  # one token for three web workers and the queue worker


def test_healthz_through_gunicorn(stack):
    import requests

    fake, bot, storage = stack
    data = requests.get(bot.base_url + "/healthz", timeout=5).json()
    assert data["status"] == "ok" and data["redis"] == "ok" and data["faq_count"] >= 20
