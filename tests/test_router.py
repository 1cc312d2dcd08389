"""Router: the order of checks and the dialogue (clarify, choices, fallbacks, the offer of a person)."""
from __future__ import annotations

import pytest

from bot.decision import Conversation, RouteDecision
from bot.faq import load_corpus
from bot.router import (CHOICE_TTL, CONFIDENT_SCORE, Router, asks_for_human, build_router, default_prechecks,
                        greeting_kind)
from bot.normalize import normalize
from config.settings import Settings
from tests.data.faq_support import SHIPPED_BRAND, entry, write_corpus

BRAND = {"brand_name": "测试钱包", "hotline": "400-000-0000", "service_hours": "工作日 9:00-18:00"}
NOW = 1_700_000_000.0


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    faq = write_corpus(tmp_path_factory.mktemp("faq"), {"a.json": {"entries": [
        entry("withdraw_time", ["提现", "到账时间"], question="提现多久能到账？"),
        entry("withdraw_fee", ["提现", "手续费"], question="提现收手续费吗？"),
        entry("withdraw_limit", ["提现", "提现限额"], question="提现限额是多少？"),
        entry("account_frozen", ["冻结", "解冻"], question="账户被冻结了怎么办？"),
    ]}})
    return load_corpus(faq, BRAND, strict=True)


@pytest.fixture
def router(corpus):
    return Router(lambda: corpus, BRAND)


def test_confident_match_answers(router, corpus):
    decision, state = router.route("我的账户被冻结了")
    assert decision.route == "faq" and decision.faq_id == "account_frozen"
    assert decision.reply == corpus.reply("account_frozen")
    assert decision.score >= CONFIDENT_SCORE and decision.candidates[0].faq_id == "account_frozen"
    assert state == Conversation()


def test_close_call_asks_with_numbers_then_a_number_answers(router, corpus):
    decision, state = router.route("提现", now=NOW)
    assert decision.route == "clarify"
    assert len(decision.choices) == 3
    assert set(decision.choices) == {"withdraw_time", "withdraw_fee", "withdraw_limit"}
    lines = decision.reply.split("\n")
    assert lines[0] == "您是想问："
    assert lines[1:4] == [f"{n}. {corpus.question(c)}" for n, c in enumerate(decision.choices, 1)]
    assert lines[-1] == "回复数字即可"
    assert state.pending_choices == decision.choices and state.choices_at == NOW

    picked, after = router.route("2", state, now=NOW + 60)
    assert picked.route == "faq" and picked.faq_id == decision.choices[1]
    assert picked.reply == corpus.reply(decision.choices[1])
    assert after.pending_choices == ()


@pytest.mark.parametrize("reply, index", [("1", 0), ("２", 1), ("第二个", 1), ("第3个", 2), ("三", 2), ("选2", 1)])
def test_choice_spellings(router, reply, index):
    decision, state = router.route("提现", now=NOW)
    picked, _ = router.route(reply, state, now=NOW + 1)
    assert picked.faq_id == decision.choices[index]


def test_choices_expire(router):
    _, state = router.route("提现", now=NOW)
    late, _ = router.route("2", state, now=NOW + CHOICE_TTL + 1)
    assert late.route == "fallback"


def test_a_number_out_of_range_asks_again(router):
    first, state = router.route("提现", now=NOW)
    again, state = router.route("7", state, now=NOW + 5)
    assert again.route == "clarify" and again.choices == first.choices
    assert again.reply.startswith("请回复 1 到 3 之间的数字")
    picked, _ = router.route("1", state, now=NOW + 10)
    assert picked.faq_id == first.choices[0]


def test_fallback_offers_a_person_and_1_accepts(router):
    decision, state = router.route("今天天气怎么样")
    assert decision.route == "fallback"
    assert "回复 1 转人工客服" in decision.reply
    assert state.human_offered and state.fallbacks_in_row == 1
    accepted, state = router.route("1", state)
    assert accepted.route == "handoff"
    assert state.fallbacks_in_row == 0 and not state.human_offered


@pytest.mark.parametrize("yes", ["1", "是", "好", "好的", "ok"])
def test_yes_words_accept_the_offer(router, yes):
    _, state = router.route("给我讲个笑话")
    assert router.route(yes, state)[0].route == "handoff"


def test_yes_words_without_an_offer_are_not_a_handoff(router):
    assert router.route("好")[0].route == "greeting"
    assert router.route("1")[0].route == "fallback"


def test_two_fallbacks_in_a_row_hand_over(router):
    _, state = router.route("今天天气怎么样")
    decision, state = router.route("给我讲个笑话", state)
    assert decision.route == "handoff"
    assert state.fallbacks_in_row == 0


def test_an_answer_in_between_resets_the_fallback_count(router):
    _, state = router.route("今天天气怎么样")
    _, state = router.route("账户冻结了", state)
    assert router.route("给我讲个笑话", state)[0].route == "fallback"


@pytest.mark.parametrize("text", ["转人工", "人工客服", "找真人", "人工", "真人", "我要转人工", "转人攻", "转仁工",
                                  "zhuan rengong", "轉人工", "人工客服在吗", "帮我接通人工", "不想跟机器人聊",
                                  "我要人工，账户冻结了", "human agent please", "客服"])
def test_explicit_requests_for_a_person(router, text):
    assert router.route(text)[0].route == "handoff"


@pytest.mark.parametrize("text", ["人工客服电话多少", "客服在哪里", "人工服务时间", "找不到人工入口", "你是机器人吗"])
def test_questions_about_people_are_not_requests(text):
    assert not asks_for_human(normalize(text))


@pytest.mark.parametrize("text, kind", [("你好", "hello"), ("在吗？", "hello"), ("谢谢！", "thanks"),
                                        ("好的谢谢", "thanks"), ("拜拜", "bye"), ("嗯嗯", "ack"), ("👍", "empty"),
                                        ("你好呀😊", "hello"), ("你好，提现多久到账", None), ("哈哈哈哈", None)])
def test_greetings(text, kind):
    assert greeting_kind(normalize(text)) == kind


def test_greeting_replies_differ_by_kind(router):
    replies = {router.route(text)[0].reply for text in ("你好", "谢谢", "拜拜")}
    assert len(replies) == 3
    assert all(router.route(text)[0].route == "greeting" for text in ("你好", "谢谢", "拜拜"))
    assert "测试钱包" in router.route("你好")[0].reply


def test_handoff_reply_uses_the_brand(router):
    reply = router.route("转人工")[0].reply
    assert BRAND["hotline"] in reply and BRAND["service_hours"] in reply


def test_order_choice_before_handoff_before_offer(router):
    _, state = router.route("提现", now=NOW)
    state.human_offered = True
    assert router.route("1", state, now=NOW + 1)[0].route == "faq"      # the pending choice wins
    assert router.route("转人工", state, now=NOW + 1)[0].route == "handoff"


def test_prechecks_run_first_and_the_first_decision_wins(corpus):
    seen = []

    def verify(text):
        seen.append(("verify", text))
        return RouteDecision("verify", "核实结果") if "400" in text else None

    def scam(text):
        seen.append(("scam", text))
        return RouteDecision("scam_alert", "小心诈骗", priority=True) if "安全账户" in text else None

    router = Router(lambda: corpus, BRAND, prechecks=[verify, scam])
    assert router.route("400-123 是你们的电话吗，还让我转到安全账户")[0].route == "verify"
    assert router.route("客服让我转到安全账户，转人工")[0].route == "scam_alert"
    assert router.route("转人工")[0].route == "handoff"
    assert seen[:3] == [("verify", "400-123 是你们的电话吗，还让我转到安全账户"),
                        ("verify", "客服让我转到安全账户，转人工"), ("scam", "客服让我转到安全账户，转人工")]


def test_a_corpus_edit_reaches_the_router(tmp_path):
    current = {}
    router = Router(lambda: current["corpus"], BRAND)
    first = write_corpus(tmp_path / "v1", {"a.json": {"entries": [entry("only_one", ["冻结"])]}})
    current["corpus"] = load_corpus(first, BRAND)
    assert router.route("冻结")[0].faq_id == "only_one"
    second = write_corpus(tmp_path / "v2", {"a.json": {"entries": [
        entry("only_one", ["解冻"], answer="新的回答，请拨打 {hotline}。")]}})
    current["corpus"] = load_corpus(second, BRAND)
    assert router.route("解冻")[0].reply.startswith("新的回答")


def test_build_router_reads_the_settings(tmp_path):
    faq = write_corpus(tmp_path / "faq", {"a.json": {"entries": [entry("only_one", ["冻结"])]}})
    settings = Settings.from_env({}, BOT_FAQ_DIR=str(faq), BOT_BRAND_FILE=str(SHIPPED_BRAND))
    prechecks = default_prechecks(settings)
    assert [p.__name__ for p in prechecks] == ["scam_check", "verify_check"]
    router = build_router(settings, prechecks=prechecks)
    decision, _ = router.route("冻结")
    assert decision.faq_id == "only_one" and "400-888-6688" in decision.reply
    assert router.source.error is None
    assert "示例钱包" in router.route("你好")[0].reply
    assert router.route("客服让我把钱转到安全账户")[0].route == "scam_alert"
    assert router.route("KF1003 是你们的客服吗")[0].route == "verify"


def test_decision_json_shape(router):
    data = router.route("账户冻结了")[0].to_json()
    assert {"route", "faq_id", "score", "reply", "candidates", "choices"} <= data.keys()
    assert data["candidates"][0]["reasons"]


def test_a_choice_whose_entry_went_away_is_not_taken(router, corpus, tmp_path):
    _, state = router.route("提现", now=NOW)
    smaller = load_corpus(write_corpus(tmp_path / "faq", {"a.json": {"entries": [
        entry(faq_id, ["冻结"]) for faq_id in state.pending_choices[1:]]}}), BRAND)
    decision, _ = Router(lambda: smaller, BRAND).route("2", state, now=NOW + 1)
    assert decision.route == "fallback"


def test_answer_by_id_for_menus(router, corpus):
    decision = router.answer("account_frozen")
    assert decision.route == "faq" and decision.reply == corpus.reply("account_frozen")
    assert router.answer("no_such_entry").route == "fallback"


def test_health_reports_count_and_error(tmp_path):
    faq = write_corpus(tmp_path / "faq", {"a.json": {"entries": [entry("only_one", ["冻结"])]}, "b.json": "{"})
    settings = Settings.from_env({}, BOT_FAQ_DIR=str(faq), BOT_BRAND_FILE=str(SHIPPED_BRAND))
    health = build_router(settings).health()
    assert health["count"] == 1 and "b.json" in health["error"] and health["loaded_at"]
    assert Router(lambda: load_corpus(faq, BRAND), BRAND).health()["error"] is None
