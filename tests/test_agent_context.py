"""The agent's context note and the silent-agent rule: plain Python (bot.agent_context, bot.rescue)."""
from __future__ import annotations

from bot.agent_context import CONTEXT_MAX, context_text, wait_words
from bot.rescue import waiting_since

KF1 = "kf1001@demo_wallet_official"


def test_the_note_names_topics_verdicts_priority_and_wait_and_masks_personal_data():
    history = [{"text": "转人工", "route": "handoff"},
               {"text": "提现失败，验证码 482913，卡号 6222021234567890123", "route": "faq", "faq_id": "withdraw"},
               {"text": "KF0999 是客服吗", "route": "verify", "verdicts": ["KF0999=not_official"]}]
    note = context_text(history, priority=True, reason="scam_alert", waited=75,
                        topics={"withdraw": "提现失败怎么办？"})
    assert note.splitlines()[0] == "【优先】疑似诈骗进行中"
    assert "话题：提现失败怎么办？" in note and "核验：KF0999 非官方" in note and "已等待：1 分 15 秒" in note
    assert "最近：转人工" in note and "482913" not in note and "6222021234567890123" not in note
    assert "6222****0123" in note


def test_fallbacks_before_the_handoff_say_the_bot_could_not_answer():
    history = [{"text": "木星上呢", "route": "handoff"}, {"text": "火星上能用吗", "route": "fallback"}]
    assert context_text(history, priority=False, reason="request", waited=None).startswith("【普通】机器人未能回答")


def test_the_note_stays_within_its_limit():
    history = [{"text": "很长的问题" * 50, "route": "faq", "faq_id": f"id{i}"} for i in range(30)]
    note = context_text(history, priority=False, reason="request", waited=10,
                        topics={f"id{i}": f"常见问题标题{i}" * 10 for i in range(30)}, limit=200)
    assert len(note) <= 200 and note.endswith("…") and "已等待：10 秒" in note
    assert len(context_text(history, priority=False, reason="request", waited=10)) <= CONTEXT_MAX
    assert wait_words(59) == "59 秒" and wait_words(3600) == "60 分 0 秒"


def _record(opercode, at, openid="o1", worker=KF1):
    return {"openid": openid, "opercode": opercode, "text": "x", "time": at, "worker": worker}


def test_silence_counts_from_the_start_or_the_first_unanswered_message():
    assert waiting_since([], "o1", KF1, 100) == 100                              # never wrote
    assert waiting_since([_record(2002, 110)], "o1", KF1, 100) is None           # answered
    assert waiting_since([_record(2002, 110), _record(2003, 120), _record(2003, 130)], "o1", KF1, 100) == 120
    assert waiting_since([_record(2002, 90)], "o1", KF1, 100) == 100             # before this session
    assert waiting_since([_record(2002, 110, openid="o2")], "o1", KF1, 100) == 100
    assert waiting_since([_record(2002, 110, worker="kf1002@x")], "o1", KF1, 100) == 100
