"""Normalisation: width, script, case, punctuation and emoji; pinyin and phonetic keys."""
from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.normalize import clauses, normalize, phonetic_key, pinyin_tokens, split_pinyin, to_simplified


@pytest.mark.parametrize("raw, expected", [
    ("ＴＩＸＩＡＮ　２０", "tixian20"),          # full-width letters, digits and space
    ("帳戶被凍結", "帐户被冻结"),                   # traditional -> simplified
    ("提現失敗了！！😭", "提现失败了"),             # punctuation and emoji dropped
    ("USDT  TRC20?", "usdttrc20"),                 # case and whitespace
    ("提现\n失败…", "提现失败"),
    ("我_的", "我的"),                               # underscore is a word character for \w
    ("👍🙏", ""),
    ("", ""),
    ("shou4 xu4 fei4 zen3 me suan4", "shouxufeizenmesuan"),   # tones typed as digits
    ("zhù xiāo zhàng hào", "zhuxiaozhanghao"),               # tone marks
    ("KF1002 trc20 A1", "kf1002trc20a"),                     # digits after letters that are no syllable stay
])
def test_normalize(raw, expected):
    assert normalize(raw) == expected


def test_simplified_text_is_left_alone():
    assert to_simplified("提现失败怎么办") == "提现失败怎么办"
    assert to_simplified("錢包") == "钱包"


def test_clauses_split_at_punctuation_not_at_spaces():
    assert clauses("我提现了，还没到账😭是不是出问题了？") == ["我提现了", "还没到账", "是不是出问题了"]
    assert clauses("tixian shibai") == ["tixianshibai"]
    assert clauses("！！！") == []
    assert clauses("转账💸要收钱吗？", at_emoji=False) == ["转账要收钱吗"]      # decoration, not a break
    assert clauses("怎么改密码？提现多久到", at_emoji=False) == ["怎么改密码", "提现多久到"]


def test_pinyin_tokens():
    assert pinyin_tokens("提现失败") == ("ti", "xian", "shi", "bai")
    assert pinyin_tokens("tixianshibai") == ("ti", "xian", "shi", "bai")
    assert pinyin_tokens("我的app") == ("wo", "de", "app")
    assert pinyin_tokens("银行") == ("yin", "hang")          # read as a word, not 行 = xing
    assert pinyin_tokens("提现2000") == ("ti", "xian", "2000")


def test_split_pinyin():
    assert split_pinyin("xian") == ("xian",)                  # fewest syllables, not xi+an
    assert split_pinyin("zhujici") == ("zhu", "ji", "ci")
    assert split_pinyin("bank") is None
    assert split_pinyin("x" * 60) is None


@pytest.mark.parametrize("a, b", [
    ("体现失败", "提现失败"),
    ("冻洁", "冻结"),
    ("tixian shibai", "提现失败"),
    ("zhuan rengong", "转人工"),
    ("zifu", "支付"),        # zh/z folded
    ("dongjie", "冻结"),
])
def test_sound_alike_texts_share_a_key(a, b):
    assert phonetic_key(normalize(a)) == phonetic_key(normalize(b))


@pytest.mark.parametrize("a, b", [("提现", "支付"), ("冻结", "解冻"), ("usdt", "btc")])
def test_different_words_have_different_keys(a, b):
    assert phonetic_key(normalize(a)) != phonetic_key(normalize(b))


def test_one_key_character_per_token():
    text = normalize("我的app提现了2000块")
    assert len(phonetic_key(text)) == len(pinyin_tokens(text))


ALPHABET = st.sampled_from(list("abcXYZ019 ，。！？,.!?～ＡＢＣ１２３　提现失败帳戶凍結錢包转人工😭👍\n\t-_"))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=ALPHABET, max_size=40))
def test_normalize_is_idempotent_and_leaves_only_letters_and_digits(text):
    once = normalize(text)
    assert normalize(once) == once
    assert re.fullmatch(r"[^\W_]*", once)
    assert once == once.lower()
