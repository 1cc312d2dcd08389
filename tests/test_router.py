"""Router: the dialogue around the model (menus, choices, offers, fallbacks, follow-ups, corrections, prechecks).

The model is replaced by `StubModel`, which reads each message as the test says, so these tests pin the
dialogue and the policy; tests/test_understanding.py tests the real model.
"""
from __future__ import annotations

import pytest

from bot.decision import RouteDecision
from bot.faq import load_corpus
from bot.router import Router, build_router, default_prechecks
from bot.understanding.model import Reading
from config.settings import Settings
from tests.data.faq_support import SHIPPED_BRAND, entry, write_corpus

BRAND = {"brand_name": "测试钱包", "hotline": "400-000-0000", "service_hours": "工作日 9:00-18:00"}
NOW = 1_700_000_000.0
CONFIG = {"policy": {"confident": 0.6, "plausible": 0.35, "menu_floor": 0.15, "menu_max": 3, "route_floor": 0.4},
          "dialogue": {"yes": ["1", "是", "好", "好的", "ok"], "correction_markers": ["不是这个", "我问的是"],
                       "choice_ttl": 300, "topic_ttl": 300, "follow_up_max_chars": 12, "follow_up_weight": 0.5,
                       "fallbacks_before_handoff": 2, "candidates_shown": 3}}
CHOICE_TTL = 300

#: How the stub model reads each message: {text: {label: probability}}; anything else is out of scope.
READINGS = {
    "我的账户被冻结了": {"account_frozen": 0.9, "withdraw_time": 0.05},
    "账户冻结了": {"account_frozen": 0.8},
    "提现": {"withdraw_time": 0.3, "withdraw_fee": 0.28, "withdraw_limit": 0.25},
    "提现要多久": {"withdraw_time": 0.45, "withdraw_fee": 0.05},
    "转人工": {"handoff": 0.95},
    "你好": {"hello": 0.9}, "谢谢": {"thanks": 0.9}, "拜拜": {"bye": 0.9}, "好": {"ack": 0.8},
    "那要多久": {"follow_up": 0.7, "withdraw_time": 0.1},
    "那手续费呢": {"withdraw_fee": 0.7},
    "多久到账？另外账户冻结了怎么办": {"withdraw_time": 0.5, "account_frozen": 0.4},
    "多久到账": {"withdraw_time": 0.9}, "另外账户冻结了怎么办": {"account_frozen": 0.9},
    "手续费": {"withdraw_fee": 0.9},
    "限额": {"withdraw_limit": 0.9},
    "他说我账户异常听着不对劲，账户冻结了": {"account_frozen": 0.9},
    "不对劲，账户冻结了": {"account_frozen": 0.9},
    "对方让我转钱到安全账户，不是这个，我问的是手续费": {"scam": 0.9},
    "一般多久能到": {"out_of_scope": 0.55},
    "讲个笑话": {"out_of_scope": 0.95},
    "冻结": {"account_frozen": 0.95, "withdraw_time": 0.04},
}


class StubModel:
    embedded = False

    def __init__(self, labels):
        self.labels = tuple(labels)

    def predict(self, text, embed=None):
        probs = dict(READINGS.get(text.strip(), {"out_of_scope": 0.9}))
        rest = max(0.0, 1.0 - sum(probs.values())) / max(1, len(self.labels) - len(probs))
        full = {label: probs.get(label, rest) for label in self.labels}
        ordered = sorted(full.items(), key=lambda kv: -kv[1])
        return Reading(tuple(l for l, _ in ordered), tuple(p for _, p in ordered))


def intents_file():
    return {"intents": [
        {"id": "handoff", "route": "handoff", "examples": ["转人工"]},
        {"id": "hello", "route": "greeting", "examples": ["你好"], "reply": "您好，这里是{brand_name}。"},
        {"id": "thanks", "route": "greeting", "examples": ["谢谢"], "reply": "不客气！"},
        {"id": "bye", "route": "greeting", "examples": ["拜拜"], "reply": "再见！"},
        {"id": "ack", "route": "greeting", "examples": ["好的"], "reply": "好的。"},
        {"id": "out_of_scope", "route": "fallback", "examples": ["今天天气怎么样"]},
        {"id": "follow_up", "route": "follow_up", "examples": ["那要多久"]},
    ]}


def stubbed(corpus):
    corpus.model = StubModel(sorted({*corpus.entries, *corpus.intents}))
    return corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    faq = write_corpus(tmp_path_factory.mktemp("faq"), {"a.json": {"entries": [
        entry("withdraw_time", ["提现", "到账时间"], question="提现多久能到账？"),
        entry("withdraw_fee", ["提现", "手续费"], question="提现收手续费吗？"),
        entry("withdraw_limit", ["提现", "提现限额"], question="提现限额是多少？"),
        entry("account_frozen", ["冻结", "解冻"], question="账户被冻结了怎么办？"),
    ]}, "intents.json": intents_file()})
    return stubbed(load_corpus(faq, BRAND, strict=True))


@pytest.fixture
def router(corpus):
    return Router(lambda: corpus, BRAND, config=CONFIG)


def test_confident_match_answers(router, corpus):
    decision, state = router.route("我的账户被冻结了")
    assert decision.route == "faq" and decision.faq_id == "account_frozen"
    assert decision.reply == corpus.reply("account_frozen")
    assert decision.score >= 0.6 and decision.candidates[0].faq_id == "account_frozen"
    assert "不是这个" not in decision.reply
    assert state.topic == "account_frozen" and state.pending_choices == ()


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
    assert router.route("转人工")[0].route == "handoff"


def test_two_fallbacks_in_a_row_hand_over(router):
    _, state = router.route("今天天气怎么样")
    decision, state = router.route("给我讲个笑话", state)
    assert decision.route == "handoff"
    assert state.fallbacks_in_row == 0


def test_an_answer_in_between_resets_the_fallback_count(router):
    _, state = router.route("今天天气怎么样")
    _, state = router.route("账户冻结了", state)
    assert router.route("给我讲个笑话", state)[0].route == "fallback"


def test_greeting_replies_differ_by_kind(router):
    replies = {router.route(text)[0].reply for text in ("你好", "谢谢", "拜拜")}
    assert len(replies) == 3
    assert all(router.route(text)[0].route == "greeting" for text in ("你好", "谢谢", "拜拜"))
    assert router.route("你好")[0].reply == "您好，这里是测试钱包。"


def test_handoff_reply_uses_the_brand(router):
    reply = router.route("转人工")[0].reply
    assert BRAND["hotline"] in reply and BRAND["service_hours"] in reply


def test_order_choice_before_handoff_before_offer(router):
    _, state = router.route("提现", now=NOW)
    state.human_offered = True
    assert router.route("1", state, now=NOW + 1)[0].route == "faq"      # the pending choice wins
    assert router.route("转人工", state, now=NOW + 1)[0].route == "handoff"


def test_prechecks_see_the_reading_and_the_first_decision_wins(corpus):
    seen = []

    def verify(text, reading):
        seen.append(("verify", text, reading.top))
        return RouteDecision("verify", "核实结果") if "400" in text else None

    def scam(text, reading):
        seen.append(("scam", text, reading.top))
        return RouteDecision("scam_alert", "小心诈骗", priority=True) if "安全账户" in text else None

    router = Router(lambda: corpus, BRAND, prechecks=[verify, scam], config=CONFIG)
    assert router.route("400-123 是你们的电话吗，还让我转到安全账户")[0].route == "verify"
    assert router.route("客服让我转到安全账户，转人工")[0].route == "scam_alert"
    assert router.route("转人工")[0].route == "handoff"
    assert seen[:3] == [("verify", "400-123 是你们的电话吗，还让我转到安全账户", "out_of_scope"),
                        ("verify", "客服让我转到安全账户，转人工", "out_of_scope"),
                        ("scam", "客服让我转到安全账户，转人工", "out_of_scope")]


def test_one_plausible_candidate_is_answered_with_an_offer_never_a_one_item_menu(router, corpus):
    decision, _ = router.route("提现要多久")
    assert decision.route == "faq" and decision.faq_id == "withdraw_time"
    assert decision.reply.startswith(corpus.reply("withdraw_time"))
    assert decision.reply.endswith("不是这个？换个说法或回复「人工」。")


def test_a_follow_up_is_read_against_the_last_topic(router):
    _, state = router.route("提现要多久", now=NOW)
    follow, state = router.route("那要多久", state, now=NOW + 30)
    assert follow.route == "faq" and follow.faq_id == "withdraw_time"
    assert router.route("那要多久", state, now=NOW + 30 + 301)[0].route == "fallback"   # the topic went stale


def test_a_clear_new_question_starts_a_new_topic(router):
    _, state = router.route("提现要多久", now=NOW)
    decision, state = router.route("那手续费呢", state, now=NOW + 10)
    assert decision.faq_id == "withdraw_fee" and state.topic == "withdraw_fee"


def test_thanks_after_an_answer_is_thanks_not_a_follow_up(router):
    _, state = router.route("提现要多久", now=NOW)
    assert router.route("谢谢", state, now=NOW + 5)[0].route == "greeting"


def test_a_correction_goes_to_what_follows_it(router):
    _, state = router.route("账户冻结了", now=NOW)
    decision, _ = router.route("不是这个，我问的是手续费", state, now=NOW + 5)
    assert decision.faq_id == "withdraw_fee"


@pytest.mark.parametrize("text, faq_id", [
    ("不对，我问的是手续费", "withdraw_fee"),                       # a marker that opens its clause
    ("嗯不对，手续费", "withdraw_fee"),                              # after a short filler
    ("他说我账户异常听着不对劲，账户冻结了", "account_frozen"),     # inside a clause: words of the story
    ("不对劲，账户冻结了", "account_frozen"),                        # a longer word the marker begins
])
def test_only_a_marker_that_opens_a_clause_is_a_correction(corpus, text, faq_id):
    dialogue = {**CONFIG["dialogue"], "correction_markers": ["不对", "我问的是"], "not_corrections": ["不对劲"]}
    router = Router(lambda: corpus, BRAND, config={**CONFIG, "dialogue": dialogue})
    _, state = router.route("账户冻结了", now=NOW)
    decision, _ = router.route(text, state, now=NOW + 5)
    assert decision.faq_id == faq_id


def test_a_correction_never_talks_the_bot_out_of_a_scam(tmp_path):
    intents = intents_file()
    intents["intents"].append({"id": "scam", "route": "scam_alert", "examples": ["对方让我转钱到安全账户"]})
    faq = write_corpus(tmp_path, {"a.json": {"entries": [entry("withdraw_fee", ["手续费"], question="提现收手续费吗？")]},
                                  "intents.json": intents})
    corpus = stubbed(load_corpus(faq, BRAND, strict=True))
    router = Router(lambda: corpus, BRAND, config=CONFIG)
    reading = router.read("对方让我转钱到安全账户，不是这个，我问的是手续费")
    assert reading.top == "scam"


@pytest.mark.parametrize("text, faq_id", [
    ("我问的不是手续费，是限额", "withdraw_limit"),     # an opener, a negator, then the affirmer in the next clause
    ("不是手续费，限额", "withdraw_limit"),             # no affirmer at all
    ("不是说好的吗，账户冻结了", None),                 # a rhetorical question rules nothing out
    ("不是我本人，账户冻结了", None),                   # "not me" is what happened, not a topic ruled out
])
def test_a_negation_across_clauses_goes_to_what_follows(corpus, text, faq_id):
    dialogue = {**CONFIG["dialogue"], "negators": ["不是"], "affirmers": ["是"], "negation_openers": ["我问的", "我"]}
    router = Router(lambda: corpus, BRAND, config={**CONFIG, "dialogue": dialogue})
    decision, _ = router.route(text, now=NOW)
    assert decision.faq_id == faq_id


def test_two_questions_answer_the_first_and_offer_the_second(router, corpus):
    decision, state = router.route("多久到账？另外账户冻结了怎么办", now=NOW)
    assert decision.route == "faq" and decision.faq_id == "withdraw_time"
    assert "账户被冻结了怎么办？" in decision.reply and "回复「是」" in decision.reply
    assert state.offered == "account_frozen"
    second, state = router.route("是", state, now=NOW + 20)
    assert second.faq_id == "account_frozen" and second.reply == corpus.reply("account_frozen")
    assert state.offered is None


def test_a_corpus_edit_reaches_the_router(tmp_path):
    current = {}
    router = Router(lambda: current["corpus"], BRAND, config=CONFIG)
    first = write_corpus(tmp_path / "v1", {"a.json": {"entries": [entry("account_frozen", ["冻结"])]},
                                           "i.json": intents_file()})
    current["corpus"] = stubbed(load_corpus(first, BRAND))
    assert router.route("账户冻结了")[0].faq_id == "account_frozen"
    second = write_corpus(tmp_path / "v2", {"a.json": {"entries": [
        entry("account_frozen", ["解冻"], answer="新的回答，请拨打 {hotline}。")]}, "i.json": intents_file()})
    current["corpus"] = stubbed(load_corpus(second, BRAND))
    assert router.route("账户冻结了")[0].reply.startswith("新的回答")


def test_build_router_reads_the_settings_and_trains_the_model(tmp_path):
    faq = write_corpus(tmp_path / "faq", {"a.json": {"entries": [
        entry("account_frozen", ["冻结", "解冻"], examples=["账户冻结了", "我的号被冻住了", "怎么解冻"]),
        entry("withdraw_failed", ["提现失败"], examples=["提现失败了", "钱提不出来", "提现一直不到账"]),
    ]}, "i.json": intents_file()})
    settings = Settings.from_env({}, BOT_FAQ_DIR=str(faq), BOT_BRAND_FILE=str(SHIPPED_BRAND))
    prechecks = default_prechecks(settings)
    assert [p.__name__ for p in prechecks] == ["scam_check", "verify_check"]
    router = build_router(settings, prechecks=prechecks)
    decision, _ = router.route("账户冻结了怎么办")
    assert decision.faq_id == "account_frozen" and "400-888-6688" in decision.reply
    assert router.source.error is None
    assert router.route("KF1003 是你们的客服吗")[0].route == "verify"


def test_decision_json_shape(router):
    data = router.route("账户冻结了")[0].to_json()
    assert {"route", "faq_id", "score", "reply", "candidates", "choices"} <= data.keys()
    assert data["candidates"][0]["reasons"]


def test_a_choice_whose_entry_went_away_is_not_taken(router, corpus, tmp_path):
    _, state = router.route("提现", now=NOW)
    smaller = stubbed(load_corpus(write_corpus(tmp_path / "faq", {"a.json": {"entries": [
        entry(faq_id, ["冻结"]) for faq_id in state.pending_choices[1:]]}, "i.json": intents_file()}), BRAND))
    decision, _ = Router(lambda: smaller, BRAND, config=CONFIG).route("2", state, now=NOW + 1)
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
    assert Router(lambda: stubbed(load_corpus(faq, BRAND)), BRAND, config=CONFIG).health()["error"] is None


def test_warm_up_loads_the_embedder_before_the_first_message(corpus):
    embedded = []
    model = corpus.model
    corpus.model = type("Embedding", (StubModel,), {"embed": lambda self, text: embedded.append(text)})(model.labels)
    try:
        Router(lambda: corpus, BRAND, config=CONFIG).warm_up()
    finally:
        corpus.model = model
    assert len(embedded) == 1
    Router(lambda: corpus, BRAND, config=CONFIG).warm_up()   # a model without an embedder: nothing to load


def test_a_real_contact_checked_after_a_scam_alert_is_still_the_scam(corpus):
    def checks(text, reading):
        if "安全账户" in text:
            return RouteDecision("scam_alert", "小心诈骗", priority=True)
        if "KF1002" in text:
            return RouteDecision("verify", "✅ 工号 KF1002：是在职客服工号。",
                                 verdicts=({"identifier": "KF1002", "kind": "agent_id", "status": "official"},))
        return None

    router = Router(lambda: corpus, BRAND, prechecks=[checks], config=CONFIG)
    assert router.route("他说他工号KF1002", now=NOW)[0].route == "verify"          # no alert before: a plain check
    _, state = router.route("客服让我转到安全账户", now=NOW)
    decision, _ = router.route("他说他工号KF1002", state, now=NOW + 30)
    assert decision.route == "scam_alert" and decision.priority
    assert decision.reply.startswith("⚠️ 即使") and "✅ 工号 KF1002" in decision.reply   # the result, not alone
    later, _ = router.route("他说他工号KF1002", state, now=NOW + 3600)
    assert later.route == "verify"
    fake = Router(lambda: corpus, BRAND, config=CONFIG, prechecks=[lambda text, reading: (
        RouteDecision("scam_alert", "小心诈骗", priority=True) if "安全账户" in text else
        RouteDecision("verify", "❌ 不是官方", verdicts=({"identifier": "kf_888", "status": "not_official"},))
        if "kf_888" in text else None)])
    _, alerted = fake.route("客服让我转到安全账户", now=NOW)
    theirs, _ = fake.route("他微信号是 kf_888", alerted, now=NOW + 30)   # the scammer's own contact
    assert theirs.route == "scam_alert" and theirs.reply == "❌ 不是官方" and theirs.priority
    _, checked = router.route("他说他工号KF1002", now=NOW)      # a real contact first, the demand after it
    alert, _ = router.route("客服让我转到安全账户", checked, now=NOW + 60)
    assert alert.route == "scam_alert" and alert.reply.startswith("小心诈骗") and "即使" in alert.reply


def test_the_same_answer_asked_for_again_offers_a_person(router):
    first, state = router.route("我的账户被冻结了", now=NOW)
    assert first.faq_id == "account_frozen" and "「人工」" not in first.reply
    again, _ = router.route("账户冻结了", state, now=NOW + 20)
    assert again.faq_id == "account_frozen"
    assert again.reply.endswith("回复「人工」为您转接人工客服，也可以拨打热线 400-000-0000。")
    other, _ = router.route("手续费", state, now=NOW + 20)
    assert "「人工」" not in other.reply
    much_later, _ = router.route("账户冻结了", state, now=NOW + 3600)
    assert "「人工」" not in much_later.reply


def test_a_short_message_that_names_no_sure_topic_is_read_against_the_last_one(router):
    _, state = router.route("提现要多久", now=NOW)
    assert router.route("一般多久能到", state, now=NOW + 20)[0].faq_id == "withdraw_time"
    assert router.route("讲个笑话", state, now=NOW + 20)[0].route == "fallback"    # sure it is out of scope
    assert router.route("一般多久能到", now=NOW + 20)[0].route == "fallback"       # no topic before it


def test_a_clause_that_says_something_is_done_is_context_not_the_question(corpus):
    dialogue = {**CONFIG["dialogue"], "settled_endings": ["好了"], "settled_words": ["没少"]}
    router = Router(lambda: corpus, BRAND, config={**CONFIG, "dialogue": dialogue})
    assert router.read("卡绑好了，提现要多久").top == "withdraw_time"
    assert router.read("钱没少，账户冻结了").top == "account_frozen"
    assert router.read("卡绑好了").top == "out_of_scope"           # nothing else to read: the message itself


def test_a_correction_always_rules_out_the_answer_just_given(router):
    _, state = router.route("我的账户被冻结了", now=NOW)
    decision, _ = router.route("不是这个，我问的是冻结", state, now=NOW + 10)   # read as that answer, sure
    assert decision.route != "faq" or decision.faq_id != "account_frozen"


@pytest.mark.parametrize("text, faq_id", [("提现💰要扣手续费吗", "fees"), ("转账🙏要收费吗", "fees")])
def test_an_emoji_inside_one_question_does_not_make_it_two(text, faq_id):
    """With the shipped model: "提现💰" is not a question of its own, so the answer is the fees one."""
    decision, _ = build_router(Settings(), prechecks=default_prechecks(Settings())).route(text)
    assert (decision.route, decision.faq_id) == ("faq", faq_id) and not decision.offered


def test_two_asking_clauses_behind_a_menu_get_the_first_answer_and_the_second_offered():
    """With the shipped model: neither clause is sure enough alone, but each asks and reads as one entry."""
    router = build_router(Settings(), prechecks=default_prechecks(Settings()))
    decision, _ = router.route("怎么换一张新的银行卡？另外提现要几天到账")
    assert (decision.route, decision.faq_id, decision.offered) == ("faq", "bind_bank_card", "withdraw_failed")
    told, _ = router.route("入口找到了也点进去了，可接下来不知道咋跟客服说")   # a story clause is not a question
    assert told.offered is None
