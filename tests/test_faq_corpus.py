"""The FAQ corpus: the shipped files, every kind of problem `check` reports, and hot reload."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.faq import (ERROR, REPLY_MAX_BYTES, WARNING, WECHAT_TEXT_LIMIT_BYTES, CorpusError, check,
                     corpus_source, load_corpus, read_brand, render)
from config.settings import Settings
from tests.data.faq_support import SHIPPED_BRAND, SHIPPED_FAQ, entry, write_corpus
from tests.helpers import until

REQUIRED_IDS = {
    "wallet_intro", "register_account", "bind_bank_card", "security_settings", "account_frozen", "payment_failed",
    "withdraw_failed", "refund_dispute", "service_hours", "contact_channels", "call_tips", "kf_how_to_use",
    "kf_entry_not_found", "kf_slow_response", "kf_unclear_answer", "escalation", "fake_agent_guide", "usage_tips",
    "supported_chains", "seed_phrase_safety",
}
MONEY_IDS = {"payment_failed", "withdraw_failed", "refund_dispute", "account_frozen", "seed_phrase_safety",
             "bind_bank_card"}
BRAND = {"brand_name": "测试钱包", "hotline": "400-000-0000", "website": "w.example.com",
         "anti_fraud_footer": "【提醒】{brand_name}不会索要验证码。"}


@pytest.fixture(scope="module")
def shipped():
    return load_corpus(SHIPPED_FAQ, SHIPPED_BRAND, strict=True)


# --- the shipped corpus -------------------------------------------------------------------------
def test_shipped_corpus_has_no_errors_or_warnings():
    assert check(SHIPPED_FAQ, SHIPPED_BRAND) == []


def test_shipped_corpus_has_every_required_topic(shipped):
    assert REQUIRED_IDS <= set(shipped.entries)


def test_replies_are_rendered_and_fit_wechat(shipped):
    brand = read_brand(SHIPPED_BRAND)
    for faq_id in shipped.entries:
        reply = shipped.reply(faq_id)
        assert "{" not in reply and "}" not in reply, faq_id
        assert len(reply.encode("utf-8")) <= REPLY_MAX_BYTES < WECHAT_TEXT_LIMIT_BYTES
    assert brand["hotline"] in shipped.reply("contact_channels")
    assert brand["email"] in shipped.reply("contact_channels")
    assert brand["service_hours"] in shipped.reply("service_hours")


def test_money_answers_end_with_the_one_brand_footer(shipped):
    brand = read_brand(SHIPPED_BRAND)
    footer = render(brand["anti_fraud_footer"], brand)
    for faq_id, item in shipped.entries.items():
        assert shipped.reply(faq_id).endswith(footer) == item.fraud_warning, faq_id
        assert footer not in item.answer, f"{faq_id}: the footer is a flag, not copied text"
    assert all(shipped.entries[i].fraud_warning for i in MONEY_IDS)


# --- problems check() reports -------------------------------------------------------------------
def problems_for(tmp_path, files, brand=BRAND):
    return check(write_corpus(tmp_path / "faq", files), brand)


def beside_a_good_one(bad: dict) -> dict:
    """A file with `bad` and one valid entry (a corpus with no usable entry is an error of its own)."""
    return {"entries": [entry("good_one", ["冻结"]), bad]}


def only(problems, severity=ERROR):
    found = [p for p in problems if p.severity == severity]
    assert len(found) == 1, found
    return found[0]


def test_invalid_json(tmp_path):
    problem = only(problems_for(tmp_path, {"a.json": {"entries": [entry("good_one", ["冻结"])]}, "b.json": "{oops"}))
    assert problem.file.endswith("b.json") and problem.entry is None and "JSON" in problem.message


@pytest.mark.parametrize("change, where", [
    ({"answer": None}, "answer"),                       # required field missing
    ({"keyword": ["typo"]}, "keyword"),                  # unknown field (a typo of keywords)
    ({"keywords": []}, "keywords"),                      # at least one keyword
    ({"keywords": ["提现", "提现"]}, "keywords"),        # listed twice
    ({"id": "Bad-Id"}, "id"),
    ({"links": [{"title": "官网", "url": "wallet.example.com"}]}, "links"),
    ({"enabled": "yes"}, "enabled"),
])
def test_schema_violations_name_file_and_entry(tmp_path, change, where):
    bad = entry("bad_entry", ["提现失败"])
    for key, value in change.items():
        if value is None:
            bad.pop(key)
        else:
            bad[key] = value
    found = problems_for(tmp_path, {"money.json": beside_a_good_one(bad)})
    problem = only(found)
    assert problem.file.endswith("money.json")
    assert problem.entry in {"bad_entry", "Bad-Id"}
    assert where in problem.message


def test_a_file_that_is_not_an_object_is_an_error(tmp_path):
    problem = only(problems_for(tmp_path, {"a.json": [entry("x_one", ["提现"])], "b.json": {"entries": [entry("y_one", ["冻结"])]}}))
    assert problem.file.endswith("a.json") and problem.entry is None


def test_duplicate_id_across_files(tmp_path):
    problem = only(problems_for(tmp_path, {"a.json": {"entries": [entry("same_id", ["提现"])]},
                                           "b.json": {"entries": [entry("same_id", ["冻结"])]}}))
    assert problem.file.endswith("b.json") and problem.entry == "same_id" and "a.json" in problem.message


def test_missing_placeholder(tmp_path):
    bad = entry("typo_one", ["提现"], answer="请拨打 {hotlne} 联系我们，谢谢。")
    problem = only(problems_for(tmp_path, {"a.json": beside_a_good_one(bad)}))
    assert problem.entry == "typo_one" and "{hotlne}" in problem.message


def test_fraud_warning_needs_the_brand_footer(tmp_path):
    brand = {k: v for k, v in BRAND.items() if k != "anti_fraud_footer"}
    bad = entry("money_one", ["提现"], fraud_warning=True)
    problem = only(problems_for(tmp_path, {"a.json": beside_a_good_one(bad)}, brand))
    assert problem.entry == "money_one" and "anti_fraud_footer" in problem.message


def test_answer_over_the_byte_limit(tmp_path):
    long_answer = "很长的回答。" * (REPLY_MAX_BYTES // 15)
    problem = only(problems_for(tmp_path, {"a.json": beside_a_good_one(entry("long_one", ["提现"], answer=long_answer))}))
    assert problem.entry == "long_one" and str(REPLY_MAX_BYTES) in problem.message


def test_control_characters_are_refused(tmp_path):
    bad = entry("ctl_one", ["提现"], answer="回答里有\x1d控制字符哦")
    problem = only(problems_for(tmp_path, {"a.json": beside_a_good_one(bad)}))
    assert problem.entry == "ctl_one"


def test_keyword_claimed_by_two_entries_is_a_warning(tmp_path):
    found = problems_for(tmp_path, {"a.json": {"entries": [entry("first_one", ["提现"]), entry("second_one", ["提 现！"])]}})
    assert not [p for p in found if p.severity == ERROR]
    problem = only(found, WARNING)
    assert problem.entry == "second_one" and "first_one" in problem.message


def test_an_example_under_two_intents_is_a_warning(tmp_path):
    found = problems_for(tmp_path, {"a.json": {"entries": [entry("first_one", ["提现"], examples=["钱转不出去"])]},
                                    "i.json": {"intents": [{"id": "out_of_scope", "route": "fallback",
                                                            "examples": ["钱转不出去？", "天气"]}]}})
    problem = only(found, WARNING)
    assert problem.entry == "out_of_scope" and "first_one" in problem.message


def test_intents_and_hard_negatives_load_and_bad_ones_are_errors(tmp_path):
    faq = write_corpus(tmp_path / "faq", {
        "a.json": {"entries": [entry("first_one", ["提现"], examples=["钱转不出去"])]},
        "i.json": {"intents": [{"id": "handoff", "route": "handoff", "examples": ["转人工"]}],
                   "hard_negatives": [{"text": "客服电话多少", "intent": "first_one"}]}})
    corpus = load_corpus(faq, BRAND, strict=True)
    assert corpus.route_of("handoff") == "handoff" and corpus.route_of("first_one") == "faq"
    assert set(corpus.labelled_texts()) >= {("钱转不出去", "first_one"), ("转人工", "handoff"),
                                            ("客服电话多少", "first_one"), ("提现", "first_one")}
    (faq / "j.json").write_text(json.dumps({"hard_negatives": [{"text": "x", "intent": "no_such"}]}), encoding="utf-8")
    assert "no_such" in only(check(faq, BRAND)).message
    (faq / "j.json").write_text(json.dumps({"intents": [{"id": "bad", "route": "nowhere", "examples": ["x"]}]}),
                                encoding="utf-8")
    assert only(check(faq, BRAND)).file.endswith("j.json")


def test_a_synonym_of_two_words_is_an_error(tmp_path):
    problem = only(problems_for(tmp_path, {"a.json": {"entries": [entry("first_one", ["提现"])]},
                                           "s.json": {"synonyms": {"提现": ["取钱"], "支付": ["取钱"]}}}))
    assert problem.file.endswith("s.json") and "取钱" in problem.message


def test_an_empty_directory_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    assert only(check(tmp_path / "empty", BRAND)).entry is None


def test_schema_json_is_not_part_of_the_corpus(tmp_path):
    files = {"a.json": {"entries": [entry("one_one", ["提现"])]}, "schema.json": {"anything": True}}
    assert problems_for(tmp_path, files) == []


# --- loading policy -----------------------------------------------------------------------------
def test_first_load_skips_what_is_bad_and_strict_load_refuses(tmp_path):
    faq = write_corpus(tmp_path / "faq", {"a.json": {"entries": [entry("good_one", ["提现"]),
                                                                 entry("bad_one", ["冻结"], answer="拨打 {nope} 哦哦哦哦")]},
                                          "b.json": "{broken"})
    corpus = load_corpus(faq, BRAND)
    assert set(corpus.entries) == {"good_one"}
    assert {p.file.rsplit("/", 1)[-1] for p in corpus.errors} == {"a.json", "b.json"}
    with pytest.raises(CorpusError) as raised:
        load_corpus(faq, BRAND, strict=True)
    assert len(raised.value.problems) == 2


def test_disabled_entries_are_not_matched(tmp_path):
    faq = write_corpus(tmp_path / "faq", {"a.json": {"entries": [entry("on_one", ["提现"]),
                                                                 entry("off_one", ["冻结"], enabled=False)]}})
    corpus = load_corpus(faq, BRAND)
    assert "off_one" not in corpus and not corpus.serves("off_one") and corpus.serves("on_one")
    # still learnt, so switching it back on needs no retraining; the router leaves it out of readings
    assert {label for _, label in corpus.labelled_texts()} == {"on_one", "off_one"}


# --- hot reload ---------------------------------------------------------------------------------
def settings_for(faq_dir: Path, brand_file: Path) -> Settings:
    return Settings.from_env({}, BOT_FAQ_DIR=str(faq_dir), BOT_BRAND_FILE=str(brand_file), BOT_RELOAD_INTERVAL=0.05)


@pytest.fixture
def live(tmp_path):
    brand_file = tmp_path / "brand.json"
    brand_file.write_text(json.dumps(BRAND, ensure_ascii=False), encoding="utf-8")
    faq = write_corpus(tmp_path / "faq", {"a.json": {"entries": [entry("one_one", ["提现"], answer="第一版回答，拨打 {hotline}。")]}})
    return corpus_source(settings_for(faq, brand_file)), faq, brand_file


def test_an_edit_is_served_after_the_interval(live):
    source, faq, _ = live
    assert "第一版" in source.get().reply("one_one")
    write_corpus(faq, {"a.json": {"entries": [entry("one_one", ["提现"], answer="第二版回答，内容更长一些，拨打 {hotline}。")]}})
    until(lambda: "第二版" in source.get().reply("one_one"))
    assert source.error is None


def test_an_invalid_edit_keeps_the_last_good_corpus(live):
    source, faq, _ = live
    write_corpus(faq, {"a.json": '{"entries": [ oops'})
    until(lambda: source.get() and source.error is not None)
    assert "a.json" in source.error
    assert "第一版" in source.get().reply("one_one")
    write_corpus(faq, {"a.json": {"entries": [entry("one_one", ["提现"], answer="修好了的回答，拨打 {hotline}。")]}})
    until(lambda: "修好了" in source.get().reply("one_one") and source.error is None)


def test_a_new_file_and_a_brand_edit_are_picked_up(live):
    source, faq, brand_file = live
    write_corpus(faq, {"b.json": {"entries": [entry("two_two", ["冻结"])]}})
    until(lambda: "two_two" in source.get())
    brand_file.write_text(json.dumps({**BRAND, "hotline": "400-999-9999"}), encoding="utf-8")
    until(lambda: "400-999-9999" in source.get().reply("one_one"))


def test_the_bot_starts_with_an_invalid_file(tmp_path):
    brand_file = tmp_path / "brand.json"
    brand_file.write_text(json.dumps(BRAND, ensure_ascii=False), encoding="utf-8")
    faq = write_corpus(tmp_path / "faq", {"a.json": {"entries": [entry("one_one", ["提现"])]}, "b.json": "[1,"})
    source = corpus_source(settings_for(faq, brand_file))
    assert "one_one" in source.get()
    assert source.error and "b.json" in source.error


def test_the_bot_starts_with_a_broken_brand_file(tmp_path):
    brand_file = tmp_path / "brand.json"
    brand_file.write_text("not json", encoding="utf-8")
    faq = write_corpus(tmp_path / "faq", {"a.json": {"entries": [entry("one_one", ["提现"])]}})
    source = corpus_source(settings_for(faq, brand_file))
    assert len(source.get()) == 0
    assert "brand.json" in source.error
