"""Issue 10, points 5, 6 and 9 end to end (gunicorn, the queue worker, real Redis, the fake WeChat):
ratings in words and forms, every menu button, and what users are told around a handoff."""
from __future__ import annotations

import json
import re
import time

import pytest

from bot.ratings import SKIPPED_TEXT
from config.settings import PROJECT_ROOT
from tests.helpers import until
from tests.test_handoff_e2e import CLOSED, KF1, KF2, PICKUP_TIMEOUT, running_stack
from tests.test_handoff_e2e import s, stack  # noqa: F401  (fixtures: the same stack, one per module)

FALLBACK = "没太明白"


def _session_opened(s, user: str) -> str:
    """The agent the bot opened a session with for `user` (it creates the session itself)."""
    until(lambda: (s.storage.get_kf_session(user) or {}).get("state") == "active", what="session active")
    return s.storage.get_kf_session(user)["account"]


def _served_and_closed(s, user: str) -> str:
    """A whole session with KF1; returns the survey the user got."""
    s.agents_online(KF1)
    assert s.fake.user_says(user, "转人工")["MsgType"] == "transfer_customer_service"
    s.fake.agent_close(_session_opened(s, user), user)
    return until(lambda: [m["content"] for m in s.fake.sent_to(user) if "打分" in (m["content"] or "")],
                 what="survey")[0]


def _ratings(s) -> tuple[int, int]:
    stats = s.storage.agent_stats().get(KF1, {})
    return int(stats.get("ratings", 0)), int(stats.get("rating_total", 0))


# --- 5. ratings ------------------------------------------------------------------------------

@pytest.mark.parametrize("n,answer,score", [(n, *case) for n, case in enumerate([
    ("非常满意", 5), ("满意", 4), ("一般", 3), ("不满意", 2), ("很差", 1), ("5分", 5), ("五星", 5), ("⭐⭐⭐⭐⭐", 5),
    ("👍", 5), ("👎", 1), ("服务挺好，给4分", 4)])])
def test_every_rating_form_is_stored(s, n, answer, score):
    user = f"oFlowRating{n:02d}".ljust(28, "0")
    survey = _served_and_closed(s, user)
    assert "1-5" in survey and "非常满意" in survey and "很差" in survey      # the survey says how to answer
    before = _ratings(s)
    reply = s.fake.user_says(user, answer)
    assert "感谢您的评价" in reply["Content"]
    assert _ratings(s) == (before[0] + 1, before[1] + score)


def test_a_reply_without_a_score_is_asked_once_more_never_a_fallback_or_a_handoff(s):
    user = "oFlowRatingAgain00000000001"
    _served_and_closed(s, user)
    again = s.fake.user_says(user, "嗯嗯")
    assert again["MsgType"] == "text" and "没看懂您的评分" in again["Content"] and "非常满意" in again["Content"]
    before = _ratings(s)
    assert "感谢您的评价" in s.fake.user_says(user, "⭐⭐⭐⭐")["Content"]     # asked again, then rated
    assert _ratings(s) == (before[0] + 1, before[1] + 4)

    other = "oFlowRatingSkip000000000001"
    _served_and_closed(s, other)
    first = s.fake.user_says(other, "随便吧")
    second = s.fake.user_says(other, "哈哈哈")
    for reply in (first, second):
        assert reply["MsgType"] == "text" and FALLBACK not in reply["Content"]
    assert second["Content"] == SKIPPED_TEXT
    assert s.fake.user_says(other, "提现失败怎么办")["MsgType"] == "text"  # the survey is over: served as usual
    assert s.storage.get_kf_session(other) is None


def test_a_real_question_after_the_survey_is_answered(s):
    user = "oFlowRatingMovedOn000000001"
    _served_and_closed(s, user)
    reply = s.fake.user_says(user, "提现一直不到账怎么办")
    assert "提现" in reply["Content"] and "评分" not in reply["Content"]


# --- 6. the menu -----------------------------------------------------------------------------

MENU = json.loads((PROJECT_ROOT / "config" / "menu.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("key", sorted(MENU["clicks"]))
def test_every_menu_button_does_something_useful(s, key):
    user = f"oFlowMenu{key}".ljust(28, "0")[:28]
    for attempt in range(2):  # clicked twice: still useful, never a fallback or a handoff it did not ask for
        time.sleep(1.1 * attempt)  # in the same second it would be a retry of the first (sender + time)
        reply = s.fake.user_event(user, "CLICK", key=key)
        assert reply is not None
        assert reply["MsgType"] == "text" and FALLBACK not in reply["Content"] and len(reply["Content"]) > 20
    if MENU["clicks"][key].get("route") == "handoff":  # the next message reaches WeChat's queue, and an agent
        assert "转接" in s.fake.wait_for_sent(user, 1, timeout=15)[0]["content"]
        account = _session_opened(s, user)
        assert s.fake.user_says(user, "我的提现一直没到账") is None   # WeChat hands it to the agent now
        s.fake.agent_close(account, user)


def test_popular_topics_answer_a_number(s):
    user = "oFlowMenuTopics000000000001"
    listing = s.fake.user_event(user, "CLICK", key="MENU_FAQ_HOT")["Content"]
    topics = [line for line in listing.splitlines() if re.match(r"\d\. ", line)]
    assert len(topics) == len(MENU["clicks"]["MENU_FAQ_HOT"]["topics"])
    assert topics[0].startswith("1. 提现失败")
    answer = s.fake.user_says(user, "1")["Content"]
    assert "提现" in answer and FALLBACK not in answer
    time.sleep(1.1)  # a click in the same second as the last one would be a retry of it (sender + time)
    s.fake.user_event(user, "CLICK", key="MENU_FAQ_HOT")  # a choice is used once, as after a clarification
    answer = s.fake.user_says(user, "3")["Content"]
    assert "冻结" in answer and FALLBACK not in answer


# --- 9. wording ------------------------------------------------------------------------------

def test_closed_with_nothing_scheduled_says_the_next_working_day(s):
    s.set_hours(CLOSED)
    reply = s.fake.user_says("oFlowClosed0000000000000001", "转人工")["Content"]
    assert "人工客服将于下一个工作日上线" in reply and "将于 " not in reply


def test_pickup_timeout_is_followed_by_agents_online_when_one_comes_online(s):
    s.agents_online()
    user = "oFlowPickupOffline000000001"
    s.fake.user_says(user, "人工")
    offer = s.fake.wait_for_sent(user, 2, timeout=PICKUP_TIMEOUT + 15)[1]["content"]
    assert "没能接入" in offer
    s.agents_online(KF1)
    online = s.fake.wait_for_sent(user, 3, timeout=15)[2]["content"]
    assert "人工客服已上线" in online
    s.fake.agent_accept(KF1, user)
    s.fake.agent_close(KF1, user)


def test_a_message_left_while_agents_are_busy_gets_no_agents_back_notice(pool):
    pool.agents_online(KF1)      # WeChat's own queue: online, but nobody picks the user up in time
    user = "oFlowPickupBusy000000000001"
    pool.fake.user_says(user, "人工")
    pool.fake.wait_for_sent(user, 2, timeout=PICKUP_TIMEOUT + 15)     # notice, then the pickup-timeout offer
    number = pool.fake.user_says(user, "转账显示处理中，帮我查一下")["Content"].split("工单号 ")[1][:11]
    assert pool.storage.get_ticket(number)["reason"] == "agents_busy"
    time.sleep(1.0)  # a bounded wait over several agent refreshes (BOT_AGENT_REFRESH=0.3)
    assert pool.storage.get_ticket(number)["status"] == "open"
    assert not [m for m in pool.fake.sent_to(user) if "已上线" in (m["content"] or "")]


def test_readme_states_the_ticket_number_format(s):
    s.set_hours(CLOSED)
    user = "oFlowTicketFormat0000000001"
    s.fake.user_says(user, "人工")
    number = s.fake.user_says(user, "绑卡失败")["Content"].split("工单号 ")[1][:11]
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    pattern = re.search(r"ticket\s+numbers\s+match\s+`([^`]+)`", readme, re.I).group(1)
    assert re.fullmatch(pattern, number) and number[1:7] == time.strftime("%y%m%d")


@pytest.fixture(scope="module")
def pool(redis_server, tmp_path_factory):
    with running_stack(redis_server, tmp_path_factory, BOT_ASSIGN_RULE="pool") as stack:
        yield stack


def test_pool_mode_gives_neither_an_agent_number_nor_a_queue_position(pool):
    pool.agents_online(KF1, KF2)
    first, second = "oFlowPool100000000000000001", "oFlowPool200000000000000001"
    for user in (first, second):
        reply = pool.fake.user_says(user, "转人工")
        assert reply["MsgType"] == "transfer_customer_service" and not (reply.get("TransInfo") or {}).get("KfAccount")
    notice = pool.fake.wait_for_sent(second, 1, timeout=15)[0]["content"]
    assert "转接人工客服" in notice
    assert not re.search(r"KF\d+|前面还有|位用户", notice)
