"""Two bot instances (separate gunicorn processes on different ports) sharing one Redis behave as one."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import redis

from bot.sim.fake_wechat import FakeWeChat
from bot.sim.pusher import PushBuilder, Pusher
from bot.sim.stack import BotProcesses
from bot.storage import Storage
from config.settings import PROJECT_ROOT
from tests.helpers import AES_KEY, APP_ID, APP_SECRET, TOKEN, bot_env

build = PushBuilder()


@pytest.fixture(scope="module")
def pair(redis_server, tmp_path_factory):
    fake = FakeWeChat(app_id=APP_ID, app_secret=APP_SECRET, token=TOKEN, encoding_aes_key=AES_KEY, mode="safe").start()
    fake.add_agent("kf1001@demo_wallet_official", "小王")
    env = bot_env(redis_server.url, WECHAT_API_BASE_URL=fake.base_url, BOT_AGENT_REFRESH=0.5)
    a = BotProcesses(env, web_workers=2, log_dir=tmp_path_factory.mktemp("a")).start()
    b = BotProcesses(env, web_workers=2, log_dir=tmp_path_factory.mktemp("b")).start()
    storage = Storage(redis.Redis.from_url(redis_server.url), env["BOT_REDIS_PREFIX"])
    yield fake, a, b, storage, env
    a.stop()
    b.stop()
    fake.stop()


def pushers(a, b):
    return (Pusher(a.callback_url, TOKEN, APP_ID, AES_KEY, mode="safe"),
            Pusher(b.callback_url, TOKEN, APP_ID, AES_KEY, mode="safe"))


def test_a_retry_landing_on_the_other_instance_gets_the_same_reply(pair):
    fake, a, b, storage, env = pair
    to_a, to_b = pushers(a, b)
    before = sum(storage.handled_counts().values())
    xml = build.text("oTwoRetry000000000000000001", "账户被冻结了怎么办")
    first = to_a.push(xml)
    retry = to_b.retry(xml)
    assert first.status_code == retry.status_code == 200
    assert first.content == retry.content
    assert sum(storage.handled_counts().values()) - before == 1


def test_a_replayed_nonce_is_refused_by_the_other_instance(pair):
    fake, a, b, storage, env = pair
    to_a, to_b = pushers(a, b)
    xml = build.text("oTwoReplay00000000000000001", "你好")
    assert to_a.push(xml, nonce="424242", timestamp=None).status_code == 200
    assert to_b.push(xml, nonce="424242").status_code == 403


def test_dialogue_state_follows_the_user(pair):
    fake, a, b, storage, env = pair
    to_a, to_b = pushers(a, b)
    user = "oTwoDialogue0000000000000001"
    first = to_a.decode_reply(to_a.push(build.text(user, "提现一直失败")))
    assert "提现" in first["Content"], first                 # an answer; its topic is stored in Redis
    follow = to_b.decode_reply(to_b.push(build.text(user, "那要多久")))
    assert follow["MsgType"] == "text" and follow["Content"].startswith(first["Content"][:20])
    fresh = to_b.decode_reply(to_b.push(build.text("oTwoDialogue0000000000000002", "那要多久")))
    assert not fresh["Content"].startswith(first["Content"][:20])   # no topic: not read as a follow-up


def test_tickets_and_token_are_shared(pair):
    fake, a, b, storage, env = pair
    to_a, _ = pushers(a, b)
    user = "oTwoTicket000000000000000001"
    fake.bot_url = a.callback_url
    fake.user_says(user, "转人工")
    fake.wait_for_sent(user, 1, timeout=20)                    # a notice through one of the two workers
    number = storage.create_ticket(user, "留言测试")
    out = subprocess.run([sys.executable, "-m", "bot", "tickets"], cwd=PROJECT_ROOT, env={**os.environ, **env},
                         capture_output=True, text=True, timeout=60)
    assert number in out.stdout
    assert fake.token_fetches == 1                             # two instances, two queue workers, one token
