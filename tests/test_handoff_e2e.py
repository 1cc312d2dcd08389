"""Issue 5 end to end: handoff flows against gunicorn, the queue worker, real Redis and the fake WeChat."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager

import pytest
import redis

from bot.sim.fake_wechat import FakeWeChat
from bot.sim.stack import BotProcesses
from bot.storage import Storage
from config.settings import PROJECT_ROOT
from tests.helpers import AES_KEY, APP_ID, APP_SECRET, TOKEN, agents_online, bot_env, until

KF1 = "kf1001@demo_wallet_official"
KF2 = "kf1002@demo_wallet_official"
OPEN = {"timezone": "Asia/Shanghai", "always_open": True, "weekly": {}}
CLOSED = {"timezone": "Asia/Shanghai", "always_open": False, "weekly": {}}
PICKUP_TIMEOUT = 3


class Stack:
    def __init__(self, fake, bot, storage, env, hours_file):
        self.fake, self.bot, self.storage, self.env, self.hours_file = fake, bot, storage, env, hours_file

    def set_hours(self, data):
        self.hours_file.write_text(json.dumps(data), encoding="utf-8")
        time.sleep(0.7)  # the web workers look at the file every 0.5 s

    def agents_online(self, *accounts):
        agents_online(self.fake, self.storage, (KF1, KF2), accounts)

    def cli(self, *args) -> str:
        out = subprocess.run([sys.executable, "-m", "bot", *args], cwd=PROJECT_ROOT, env={**os.environ, **self.env},
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout


@contextmanager
def running_stack(redis_server, tmp_path_factory, **extra):
    """Gunicorn + the worker over the fake WeChat with agents KF1 and KF2; `extra`: more settings."""
    tmp = tmp_path_factory.mktemp("handoff")
    hours_file = tmp / "hours.json"
    hours_file.write_text(json.dumps(OPEN), encoding="utf-8")
    fake = FakeWeChat(app_id=APP_ID, app_secret=APP_SECRET, token=TOKEN, encoding_aes_key=AES_KEY, mode="safe").start()
    fake.add_agent(KF1, "小王")
    fake.add_agent(KF2, "小李")
    env = bot_env(redis_server.url, WECHAT_API_BASE_URL=fake.base_url, BOT_VAR_DIR=tmp, BOT_HOURS_FILE=hours_file,
                  BOT_RELOAD_INTERVAL=0.5, BOT_AGENT_REFRESH=0.3, BOT_PICKUP_TIMEOUT=PICKUP_TIMEOUT, **extra)
    bot = BotProcesses(env, web_workers=2).start()
    fake.bot_url = bot.callback_url
    storage = Storage(redis.Redis.from_url(redis_server.url), env["BOT_REDIS_PREFIX"])
    try:
        yield Stack(fake, bot, storage, env, hours_file)
    finally:
        bot.stop()
        fake.stop()


@pytest.fixture(scope="module")
def stack(redis_server, tmp_path_factory):
    with running_stack(redis_server, tmp_path_factory) as stack:
        yield stack


@pytest.fixture
def s(stack):
    stack.set_hours(OPEN)
    stack.agents_online(KF1, KF2)
    return stack


def test_in_hours_goes_to_the_least_busy_agent_with_a_notice(s):
    busy_user, user = "oHandoffBusy00000000000000001", "oHandoffInHours000000000000001"
    s.fake.user_says(busy_user, "你好")
    s.fake.agent_accept(KF2, busy_user)                      # KF2 now holds one session
    until(lambda: any(a["accepted"] for a in s.storage.cached_agents() or []), what="loads refreshed")
    reply = s.fake.user_says(user, "转人工")
    assert reply["MsgType"] == "transfer_customer_service"
    assert reply["TransInfo"]["KfAccount"] == KF1
    notice = s.fake.wait_for_sent(user, 1, timeout=15)[0]["content"]
    assert "KF1001" in notice and "小王" in notice and "验证码" in notice and "核验" in notice
    assert s.fake.agent_accept(KF1, user) == user
    until(lambda: (s.storage.get_kf_session(user) or {}).get("state") == "active", what="session recorded")
    assert s.fake.user_says(user, "我的提现失败了") is None       # the agent has it; the bot stays silent
    assert "oHandoffInHours" in s.cli("handoff", "queue", "--full")
    s.fake.agent_close(KF1, user)
    s.fake.agent_close(KF2, busy_user)


def test_no_agent_online_waits_in_queue_with_position_then_offers_a_ticket(s):
    s.agents_online()
    first, second = "oHandoffQueue1000000000000001", "oHandoffQueue2000000000000001"
    assert s.fake.user_says(first, "人工客服")["MsgType"] == "transfer_customer_service"
    assert s.fake.user_says(second, "人工客服")["MsgType"] == "transfer_customer_service"
    notice = s.fake.wait_for_sent(second, 1, timeout=15)[0]["content"]
    assert "没有客服在线" in notice and "前面还有 1 位" in notice
    offer = s.fake.wait_for_sent(second, 2, timeout=PICKUP_TIMEOUT + 15)[1]["content"]
    assert "留言" in offer
    reply = s.fake.user_says(second, "我的钱包转账一直显示处理中，麻烦帮我查一下")
    assert "工单号" in reply["Content"]
    number = reply["Content"].split("工单号 ")[1][:11]
    assert s.storage.get_ticket(number)["text"].startswith("我的钱包转账")
    assert s.storage.get_kf_session(second) is None


def test_after_hours_ticket_then_user_notified_when_agents_are_back(s):
    s.set_hours(CLOSED)
    user = "oHandoffClosed00000000000001"
    reply = s.fake.user_says(user, "转人工")
    assert reply["MsgType"] == "text" and "非工作时间" in reply["Content"]
    reply = s.fake.user_says(user, "我绑定银行卡一直失败，提示信息不符")
    number = reply["Content"].split("工单号 ")[1][:11]
    assert number in s.cli("tickets")
    assert s.fake.sent_to(user) == []
    s.set_hours(OPEN)                                         # agents are back: the worker tells the user
    back = s.fake.wait_for_sent(user, 1, timeout=15)[0]["content"]
    assert number in back and "人工" in back
    until(lambda: s.storage.get_ticket(number)["status"] == "notified", what="ticket marked notified")


def test_priority_scam_handoff_jumps_the_queue(s):
    s.agents_online()
    waiting, victim = "oHandoffWaiting0000000000001", "oHandoffVictim00000000000001"
    s.fake.user_says(waiting, "转人工")                      # nobody online: WeChat's queue
    assert waiting in s.fake.waiting()
    s.agents_online(KF1)
    reply = s.fake.user_says(victim, "自称客服的人说我账户异常要冻结，让我把钱转到安全账户")
    assert reply["MsgType"] == "text" and "安全账户" in reply["Content"] and "优先转接" in reply["Content"]
    until(lambda: s.fake.session_of(victim) == KF1, what="priority session created by the API")
    assert waiting in s.fake.waiting()                       # the routine case still waits
    until(lambda: (s.storage.get_kf_session(victim) or {}).get("state") == "active", what="kf_create_session")
    assert "优先" in s.cli("handoff", "show", victim)
    s.fake.agent_close(KF1, victim)


def test_session_close_sends_survey_and_rating_is_stored(s):
    user = "oHandoffRating00000000000001"
    s.fake.user_says(user, "转人工")
    s.fake.agent_accept(KF1, user)
    until(lambda: (s.storage.get_kf_session(user) or {}).get("state") == "active", what="session active")
    s.fake.agent_says(KF1, user, "您好，我是客服小王")
    s.fake.agent_close(KF1, user)
    survey = until(lambda: [m for m in s.fake.sent_to(user) if "打分" in (m["content"] or "")], what="survey")
    assert "KF1001" in survey[0]["content"]
    reply = s.fake.user_says(user, "5分")
    assert "感谢您的评价" in reply["Content"]
    stats = s.storage.agent_stats()[KF1]
    assert stats["ratings"] >= 1 and stats["rating_total"] >= 5
    assert KF1 in s.cli("handoff", "stats")


def test_token_error_on_notice_is_refreshed_once(s):
    user = "oHandoffToken000000000000001"
    before = s.fake.token_fetches
    s.fake.inject("/message/custom/send", errcode=40001)
    s.fake.user_says(user, "转人工")
    notice = s.fake.wait_for_sent(user, 1, timeout=15)[0]
    assert "转接" in notice["content"]
    assert s.fake.token_fetches == before + 1


def test_ticket_reply_outside_the_48_hour_window_is_marked(s):
    s.set_hours(CLOSED)
    user = "oHandoffLate0000000000000001"
    s.fake.user_says(user, "人工")
    number = s.fake.user_says(user, "提现失败了")["Content"].split("工单号 ")[1][:11]
    s.fake.inject("/message/custom/send", errcode=45015, times=20)  # other queued notices may take some
    try:
        s.cli("tickets", "reply", number, "您的提现已处理")
        until(lambda: s.storage.get_ticket(number)["status"] == "outside_window", what="ticket marked")
    finally:
        s.fake.clear_faults()
