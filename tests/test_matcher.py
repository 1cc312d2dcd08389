"""Matcher ranking: keywords, synonyms, sound-alike typos, fuzzy questions, large corpora."""
from __future__ import annotations

import pytest

import bot.matcher as matcher_module
from bot.faq import Corpus, FaqEntry, collect, load_corpus, read_brand
from bot.matcher import Canonicalizer, MatchDoc, Matcher
from tests.data.faq_support import SHIPPED_BRAND, SHIPPED_FAQ, load_labelled, synthetic_entries

DOCS = [
    MatchDoc("withdraw_failed", "提现失败怎么办？", ("钱转不出去是怎么回事", "提现一直不到账"), ("提现失败", "不到账")),
    MatchDoc("payment_failed", "支付失败怎么办？", ("扫码付款提示失败",), ("支付失败", "付不了款")),
    MatchDoc("account_frozen", "账户被冻结了怎么办？", ("怎么解除冻结",), ("冻结", "解冻")),
    MatchDoc("service_hours", "客服几点上班？", ("周末有人工客服吗",), ("上班时间", "几点上班")),
]
SYNONYMS = {"提现": ["取钱", "withdraw"], "支付": ["付款"], "失败": ["不成功"]}


@pytest.fixture(scope="module")
def matcher():
    return Matcher(DOCS, SYNONYMS)


def ids(candidates):
    return [c.faq_id for c in candidates]


def test_exact_keyword_ranks_first_with_reasons(matcher):
    found = matcher.match("提现失败")
    assert ids(found)[0] == "withdraw_failed"
    assert "keyword:提现失败" in found[0].reasons
    assert found[0].score >= 90
    assert all(0 <= c.score <= 100 for c in found)
    assert [c.score for c in found] == sorted((c.score for c in found), reverse=True)


def test_synonyms_are_rewritten_on_both_sides(matcher):
    found = matcher.match("取钱一直不成功")
    assert ids(found)[0] == "withdraw_failed"
    assert "keyword:提现失败" not in found[0].reasons   # 取钱…不成功 is not contiguous 提现失败
    assert ids(matcher.match("withdraw failed"))[0] == "withdraw_failed"
    assert ids(matcher.match("付款不成功"))[0] == "payment_failed"


def test_canonicalizer_prefers_the_longest_variant():
    canonical = Canonicalizer({"提现": ["取钱"], "提现失败": ["取钱失败了"]})
    assert canonical("取钱失败了吗") == "提现失败吗"
    assert canonical("取钱") == "提现"


def test_sound_alike_typos_match_but_score_below_the_exact_text(matcher):
    exact = matcher.match("账户冻结了")[0]
    typo = matcher.match("账户冻洁了")[0]
    assert typo.faq_id == exact.faq_id == "account_frozen"
    assert "keyword-pinyin:冻结" in typo.reasons
    assert typo.score < exact.score


def test_pinyin_typed_message(matcher):
    assert ids(matcher.match("tixian shibai"))[0] == "withdraw_failed"


def test_fuzzy_match_on_a_similar_question(matcher):
    found = matcher.match("钱怎么转不出去")
    assert ids(found)[0] == "withdraw_failed"
    assert any(r.startswith("fuzzy:similar#1=") for r in found[0].reasons)


def test_each_clause_of_a_long_story_is_compared(matcher):
    story = "我上周在你们这里操作了一笔，等了好几天，提现一直不到账，到底怎么回事？？"
    assert ids(matcher.match(story))[0] == "withdraw_failed"


def test_nothing_to_match(matcher):
    assert matcher.match("👍👍") == []
    assert matcher.match("今天天气怎么样") == []
    assert Matcher([], {}).match("提现失败") == []


def test_limit(matcher):
    assert len(matcher.match("提现失败支付失败冻结上班时间", limit=2)) == 2


@pytest.fixture(scope="module")
def big_corpus():
    """The shipped entries plus 10,000 generated ones: the bigram shortlist is in use."""
    brand = read_brand(SHIPPED_BRAND)
    entries, synonyms, _ = collect(SHIPPED_FAQ, brand)
    generated = [FaqEntry.from_dict(data) for data in synthetic_entries(10_000)]
    return Corpus(entries + generated, synonyms, brand)


def test_large_corpus_uses_the_shortlist_and_still_ranks_right(big_corpus):
    assert big_corpus.matcher._postings is not None
    assert ids(big_corpus.match("提现失败"))[0] == "withdraw_failed"
    assert ids(big_corpus.match("帳戶被凍結"))[0] == "account_frozen"
    generated = synthetic_entries(10_000)[1234]
    assert ids(big_corpus.match(generated["similar_questions"][0]))[0] == generated["id"]


def test_shortlist_agrees_with_a_full_scan(monkeypatch):
    """The shortlist only saves time: on the shipped corpus it picks the same best entries."""
    texts = [row["text"] for row in load_labelled()]
    full = load_corpus(SHIPPED_FAQ, SHIPPED_BRAND)
    monkeypatch.setattr(matcher_module, "FULL_SCAN_CHOICES", 0)
    shortlisted = load_corpus(SHIPPED_FAQ, SHIPPED_BRAND)
    assert shortlisted.matcher._postings is not None and full.matcher._postings is None
    assert [ids(full.match(t, 1)) for t in texts] == [ids(shortlisted.match(t, 1)) for t in texts]


def test_a_very_long_message_is_matched_on_its_start(matcher):
    noise = "今天心情一般般" * 400
    assert ids(matcher.match("提现失败，" + noise))[0] == "withdraw_failed"
    assert matcher.match(noise + "，提现失败") == []     # beyond MAX_TEXT_CHARS
