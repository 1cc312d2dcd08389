"""Issue 10.1-10.4 end to end (gunicorn, the queue worker, real Redis, the fake WeChat): notices on
time after an idle spell, in order and never stale, silent agents noticed, context for the agent."""
from __future__ import annotations

import os
import signal
import time
from contextlib import contextmanager

import pytest
import redis
from rq import Queue

from bot.agent_context import CONTEXT_MAX
from bot.assign import Agent
from bot.jobs import Outbox
from bot.sim.fake_wechat import FakeWeChat
from bot.sim.stack import BotProcesses
from bot.storage import Storage
from tests.helpers import AES_KEY, APP_ID, APP_SECRET, TOKEN, agents_online, bot_env, until

KF1 = "kf1001@demo_wallet_official"
KF2 = "kf1002@demo_wallet_official"
REPLY_TIMEOUT = 4          # BOT_AGENT_REPLY_TIMEOUT for these tests (priority: 2 s)
NOTICE_BOUND = 3           # issue 10: a handoff notice goes out within 3 s after any idle period
SILENT_BOUND = REPLY_TIMEOUT + 10


class Stack:
    def __init__(self, fake, bot, storage, queue):
        self.fake, self.bot, self.storage, self.queue = fake, bot, storage, queue

    def agents_online(self, *accounts):
        agents_online(self.fake, self.storage, (KF1, KF2), accounts)

    def handed_over(self, openid, text="转人工") -> tuple[str, str]:
        """The user asks for a person and the bot gives them an agent: (that agent, the other one)."""
        self.fake.user_says(openid, text)
        first = until(lambda: self.fake.session_of(openid), what="session created through kfsession/create")
        return first, KF2 if first == KF1 else KF1

    def texts(self, openid) -> list[str]:
        """What the bot sent the user (customer-service messages through the API)."""
        return [m["content"] for m in self.fake.sent_to(openid) if m["via"] == "api"]

    def settled(self, openid):
        """Wait (bounded) until the queue has nothing ready or running and the user's mailbox is empty."""
        queue = Queue(self.queue, connection=self.storage.redis)
        key = self.storage.key("mailbox", openid)
        until(lambda: queue.count == 0 and queue.started_job_registry.count == 0
              and not self.storage.redis.exists(key), timeout=40, what="queue and mailbox emptied")


@contextmanager
def running_stack(redis_server, tmp, **settings):
    fake = FakeWeChat(app_id=APP_ID, app_secret=APP_SECRET, token=TOKEN, encoding_aes_key=AES_KEY, mode="safe").start()
    fake.add_agent(KF1, "小王")
    fake.add_agent(KF2, "小李")
    env = bot_env(redis_server.url, WECHAT_API_BASE_URL=fake.base_url, BOT_VAR_DIR=tmp, BOT_PICKUP_TIMEOUT=600,
                  **settings)
    bot = BotProcesses(env, web_workers=2).start()
    fake.bot_url = bot.callback_url
    storage = Storage(redis.Redis.from_url(redis_server.url), env["BOT_REDIS_PREFIX"])
    try:
        yield Stack(fake, bot, storage, env["BOT_QUEUE_NAME"])
    finally:
        bot.stop()
        fake.stop()


@pytest.fixture(scope="module")
def s(redis_server, tmp_path_factory):
    with running_stack(redis_server, tmp_path_factory.mktemp("rescue"), BOT_AGENT_REFRESH=0.3,
                       BOT_AGENT_REPLY_TIMEOUT=REPLY_TIMEOUT) as stack:
        yield stack


def _within(predicate, bound: float, what: str):
    """Poll `predicate` until it holds; fail if it does not within `bound` seconds (the issue's bound)."""
    return until(predicate, timeout=bound, what=what)


# --- 10.4 context for the agent ------------------------------------------------------------------
def test_the_chosen_agent_gets_the_session_with_a_masked_context_note(s):
    s.agents_online(KF1)
    user = "oRescueContext0000000000001"
    s.fake.user_says(user, "KF0999是你们的客服吗")
    s.fake.user_says(user, "提现一直失败，验证码 482913，手机13812345678")
    reply = s.fake.user_says(user, "转人工")
    assert reply["MsgType"] == "transfer_customer_service"        # the fallback, should the API refuse
    until(lambda: s.fake.session_of(user) == KF1, what="session created through kfsession/create")
    note = s.fake.session_text(user)[0]
    assert len(note) <= CONTEXT_MAX
    assert "【普通】" in note and "已等待" in note
    assert "核验：KF0999 已停用" in note                           # the verification verdict
    assert "提现" in note                                           # the topic / last question
    assert "482913" not in note and "13812345678" not in note and "138****5678" in note
    notice = s.fake.wait_for_sent(user, 1, timeout=15)[0]["content"]
    assert "KF1001" in notice and "前面还有" not in notice
    s.fake.agent_says(KF1, user, "您好")
    s.fake.agent_close(KF1, user)


def test_when_kfsession_create_is_refused_the_passive_transfer_keeps_the_user_queued(s):
    s.agents_online(KF1)
    user = "oRescueRefused0000000000001"
    s.fake.inject("/customservice/kfsession/create", errcode=65415)
    assert s.fake.user_says(user, "转人工")["MsgType"] == "transfer_customer_service"
    notice = s.fake.wait_for_sent(user, 1, timeout=15)[0]["content"]
    assert "KF1001" in notice and user in s.fake.waiting() and s.fake.session_of(user) is None
    assert s.fake.agent_accept(KF1, user) == user
    s.fake.agent_says(KF1, user, "您好")
    s.fake.agent_close(KF1, user)


# --- 10.2 per-user order, stale notices dropped -------------------------------------------------
@contextmanager
def worker_paused(s):
    """The queue worker stopped (SIGSTOP) for the block: its jobs wait, as when it was late."""
    worker = s.bot.processes[1]
    os.kill(worker.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(worker.pid, signal.SIGCONT)


def test_a_late_queue_position_and_an_answered_survey_are_dropped_after_close_and_rating(s):
    s.agents_online()                                               # nobody on: WeChat's queue, a position
    user = "oRescueStale00000000000001"
    with worker_paused(s):                                          # the late worker
        assert s.fake.user_says(user, "转人工")["MsgType"] == "transfer_customer_service"
        s.fake.set_agent_online(KF1, True)                          # comes on duty and takes the user
        assert s.fake.agent_accept(KF1, user) == user
        until(lambda: (s.storage.get_kf_session(user) or {}).get("state") == "active", what="session active")
        s.fake.agent_says(KF1, user, "已帮您处理")
        s.fake.agent_close(KF1, user)
        until(lambda: s.storage.load_conversation(user).extra.get("awaiting") == "rating", what="rating awaited")
        assert "感谢您的评价" in s.fake.user_says(user, "5")["Content"]
    s.settled(user)                                                 # the late notice and survey ran
    assert [t for t in s.texts(user) if t and "排队" in t or "打分" in (t or "")] == []
    assert s.texts(user) == []                                      # nothing stale reached the user


def test_a_users_messages_go_out_in_the_order_decided_even_when_the_first_is_retried(s):
    user = "oRescueOrder00000000000001"
    s.fake.user_says(user, "你好")
    s.settled(user)
    outbox = Outbox(s.storage.redis, s.queue)
    s.fake.inject("/message/custom/send", http_status=503)          # the first fails once: retried in 2 s
    outbox.send_text(user, "第一条：您的工单已受理", purpose="ticket_reply")
    until(lambda: s.fake.calls and s.fake.calls[-1]["path"].endswith("/custom/send"), what="first tried")
    outbox.send_text(user, "第二条：您的工单已处理完毕", purpose="ticket_reply")
    s.settled(user)
    assert [t[:3] for t in s.texts(user)] == ["第一条", "第二条"]


# --- 10.3 silent agents ----------------------------------------------------------------------------
def test_a_silent_agent_is_noticed_and_the_user_may_leave_a_message(s):
    s.agents_online(KF1)
    user = "oRescueSilent0000000000001"
    assert s.handed_over(user)[0] == KF1
    started = len(s.fake.sent_to(user))
    offer = _within(lambda: [t for t in s.texts(user)[started:] if t and "回复 2" in t], SILENT_BOUND,
                    "the silent-agent offer")[0]
    assert "KF1001" in offer and "继续等待" in offer and "热线" in offer
    until(lambda: s.fake.session_of(user) is None and s.storage.get_kf_session(user) is None, what="closed")
    assert "工单" in s.fake.user_says(user, "2")["Content"]
    reply = s.fake.user_says(user, "我的提现三天没到账，请帮我查一下")
    assert "工单号" in reply["Content"]
    time.sleep(1)
    assert not any("打分" in (t or "") for t in s.texts(user))      # a session the bot ended asks no rating
    assert sum("回复 2" in (t or "") for t in s.texts(user)) == 1


def test_keep_waiting_queues_the_user_again_with_a_note_for_the_next_agent(s):
    s.agents_online(KF1)
    user = "oRescueRequeue000000000001"
    assert s.handed_over(user)[0] == KF1
    _within(lambda: [t for t in s.texts(user) if t and "回复 1" in t], SILENT_BOUND, "the silent-agent offer")
    until(lambda: s.storage.get_kf_session(user) is None, what="the silent session closed")
    assert s.fake.user_says(user, "1")["MsgType"] == "transfer_customer_service"
    until(lambda: s.fake.session_of(user) == KF1, what="a new session")
    assert "上一位客服未回复" in s.fake.session_text(user)[-1]
    s.fake.agent_says(KF1, user, "抱歉久等")
    s.fake.agent_close(KF1, user)


def test_a_switched_session_is_watched_for_the_new_agent(s):
    s.agents_online(KF1, KF2)
    user = "oRescueSwitch0000000000001"
    first, other = s.handed_over(user)
    until(lambda: (s.storage.get_kf_session(user) or {}).get("state") == "active", what="recorded")
    s.fake.agent_says(first, user, "我帮您转给同事")
    s.fake.agent_switch(first, other, user)
    offer = _within(lambda: [t for t in s.texts(user) if t and "回复 2" in t], SILENT_BOUND, "the offer")
    assert Agent(account=other).number in offer[0]


def test_an_agent_who_answers_is_left_alone(s):
    s.agents_online(KF1)
    user = "oRescueAnswered00000000001"
    assert s.handed_over(user)[0] == KF1
    s.fake.agent_says(KF1, user, "您好，我是小王")
    deadline = time.monotonic() + REPLY_TIMEOUT + 3
    while time.monotonic() < deadline:                              # the user has nothing unanswered
        assert s.fake.session_of(user) == KF1
        time.sleep(0.5)
    assert not any("回复 2" in (t or "") for t in s.texts(user))
    assert any(c["path"].endswith("/msgrecord/getmsglist") for c in s.fake.calls)
    s.fake.agent_close(KF1, user)


def test_a_silent_priority_agent_is_replaced_once_then_the_hotline(s):
    s.agents_online(KF1, KF2)
    victim = "oRescueVictim000000000001"
    first, other = s.handed_over(victim, "自称客服的人说我账户异常要冻结，让我把钱转到安全账户")
    assert "【优先】疑似诈骗进行中" in s.fake.session_text(victim)[0]
    _within(lambda: s.fake.session_of(victim) == other, SILENT_BOUND, "reassigned to the other agent")
    assert "已改派" in s.fake.session_text(victim)[-1]
    hotline = _within(lambda: [t for t in s.texts(victim) if t and "热线" in t and "没能接入" in t], SILENT_BOUND,
                      "the hotline after the second silence")
    assert len(hotline) == 1
    time.sleep(REPLY_TIMEOUT)
    assert len(s.fake.session_text(victim)) == 2                    # reassigned once
    assert sum("没能接入" in (t or "") for t in s.texts(victim)) == 1  # the hotline once
    s.fake.agent_close(other, victim)


# --- 10.1 the worker's blocking dequeue after an idle spell (one ~70 s test) ----------------------
def test_after_65_idle_seconds_a_handoff_notice_goes_out_within_3_seconds(redis_server, tmp_path):
    # The settings' defaults: the worker's other Redis traffic (the agent refresh every 5 s) is what
    # left short-timeout connections in the pool for RQ's blocking dequeue to pick up.
    with running_stack(redis_server, tmp_path) as s:
        _idle_then_handoff(s)


def _idle_then_handoff(s):
    s.agents_online(KF1)
    user = "oRescueIdle0000000000000001"
    s.fake.user_says(user, "你好")
    s.settled(user)
    time.sleep(65)                                                  # nothing for the worker to do
    s.fake.user_says(user, "转人工")
    _within(lambda: [t for t in s.texts(user) if t and "转接" in t], NOTICE_BOUND, "the handoff notice")
    log = (s.bot.log_dir / "worker.log").read_text(encoding="utf-8", errors="replace")
    assert "could not connect to Redis" not in log and "Timeout reading from socket" not in log
    s.fake.agent_says(KF1, user, "您好")
    s.fake.agent_close(KF1, user)
