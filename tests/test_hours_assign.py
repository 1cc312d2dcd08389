"""bot.hours, bot.assign and rating parsing: the plain-Python parts of the handoff."""
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.assign import Agent, pick_agent
from bot.hours import ServiceHours
from config.settings import PROJECT_ROOT
from bot.ratings import rating_of

TZ = ZoneInfo("Asia/Shanghai")
HOURS = ServiceHours.load(PROJECT_ROOT / "config" / "service_hours.json")


def at(text):
    return datetime.fromisoformat(text).replace(tzinfo=TZ)


@pytest.mark.parametrize("when,open_", [
    ("2026-11-23T09:00", True), ("2026-11-23T17:59", True), ("2026-11-23T18:00", False),
    ("2026-11-23T08:59", False), ("2026-11-22T12:00", False),      # Sunday
    ("2026-10-01T10:00", False),                                    # National Day holiday
    ("2026-10-10T10:00", True),                                     # make-up workday (Saturday)
])
def test_shipped_schedule(when, open_):
    assert HOURS.is_open(at(when)) is open_


def test_timezone_is_shanghai_whatever_the_server_clock():
    utc_0130 = datetime(2026, 11, 23, 1, 30, tzinfo=ZoneInfo("UTC"))     # 09:30 in Shanghai
    assert HOURS.is_open(utc_0130)
    assert HOURS.is_open(utc_0130.timestamp())


@pytest.mark.parametrize("when,said", [
    ("2026-11-23T07:00", "今天 09:00"), ("2026-11-23T19:00", "明天 09:00"),
    ("2026-11-20T19:00", "11月23日（周一）09:00"), ("2026-09-30T19:00", "10月8日（周四）09:00"),
])
def test_when_agents_are_back(when, said):
    assert HOURS.describe_next_open(at(when)) == said


def test_always_open_and_bad_spans():
    assert ServiceHours.from_dict({"always_open": True}).is_open(at("2026-11-22T03:00"))
    with pytest.raises(ValueError):
        ServiceHours.from_dict({"weekly": {"mon": [["18:00", "09:00"]]}})


AGENTS = [Agent("kf1001@x", "小王", 3), Agent("kf1002@x", "小李", 1), Agent("kf1003@x", "小张", 1)]


def test_least_active_takes_the_first_of_the_least_loaded():
    assert pick_agent(AGENTS).account == "kf1002@x"


def test_max_sessions_leaves_full_agents_out_except_for_priority():
    assert pick_agent(AGENTS, max_sessions=1) is None
    assert pick_agent(AGENTS, max_sessions=1, priority=True).account == "kf1002@x"


def test_pool_rule_and_empty_list():
    assert pick_agent(AGENTS, rule="pool") is None
    assert pick_agent(AGENTS, rule="pool", priority=True).account == "kf1002@x"
    assert pick_agent([]) is None and pick_agent([], priority=True) is None


def test_random_rule_picks_only_agents_with_room():
    import random

    picks = {pick_agent(AGENTS, rule="random", max_sessions=2, rng=random.Random(i)).account for i in range(30)}
    assert picks == {"kf1002@x", "kf1003@x"}


def test_agent_number():
    assert Agent("kf1001@demo_wallet_official").number == "KF1001"
    assert Agent("alice@demo_wallet_official", kf_id="2002").number == "KF2002"


@pytest.mark.parametrize("text,score", [
    ("5", 5), ("1", 1), ("五", 5), ("4分", 4), (" 3 星 ", 3), ("５", 5), ("6", None), ("0", None), ("55", None),
    ("5个人", None), ("", None),
    # issue 10: words, forms and digits inside text
    ("非常满意", 5), ("满意", 4), ("一般", 3), ("不满意", 2), ("很差", 1), ("不是很满意", 2), ("5分", 5), ("五星", 5),
    ("⭐⭐⭐⭐⭐", 5), ("⭐️⭐️⭐️", 3), ("👍", 5), ("👎", 1), ("我给5分吧", 5), ("打 4 星", 4), ("还行吧，3分", 3),
    ("等了5分钟", None), ("1-5", None), ("4.5分", None), ("⭐" * 6, None), ("13800138000", None),
    ("提现失败怎么办", None)])
def test_rating_of(text, score):
    assert rating_of(text) == score


def test_closed_text_reads_naturally():
    from bot.handoff import closed_text

    brand = {"service_hours": "工作日 9:00-18:00", "hotline": "400", "anti_fraud_hotline": "96110", "police": "110"}
    assert "人工客服将于今天 09:00 上线（" in closed_text(HOURS.describe_next_open(at("2026-11-23T07:00")), brand)
    assert "人工客服将于下一个工作日上线（" in closed_text(None, brand)
    assert ServiceHours.from_dict({"weekly": {}}).describe_next_open(at("2026-11-23T07:00")) is None
