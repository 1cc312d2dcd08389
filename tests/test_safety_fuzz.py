"""The verifier and the scam detector never raise, whatever the text (hypothesis)."""
from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bot import scam, verifier
from bot.channels import load_registry
from bot.decision import RouteDecision
from bot.safety import SafetyChecks

CONFIG = Path(__file__).resolve().parent.parent / "config"
REGISTRY = load_registry(CONFIG / "official_channels.json", CONFIG / "brand.json")


class _Fixed:
    def get(self):
        return REGISTRY


CHECKS = SafetyChecks(_Fixed())
STATUSES = {"official", "revoked", "not_official"}

# Pieces the extractors and signals react to, so random joins reach the interesting paths.
FRAGMENTS = [
    "KF", "kf", "工号", "客服", "号", "：", ":", "1003", "0999", "4008886688", "400-888-", "+86 ", "0086", "138", " ", "-",
    "@", ".", "。", "．", "xn--", "xn--wllet-4ve", "wallet", "example", "com", "https://", "www.", "微信号", "QQ", "加我微信",
    "让我", "验证码", "安全账户", "助记词", "转账", "屏幕共享", "自称", "会不会", "吗", "\x00", "\u200b", "\ufeff", "\u202e",
    "１", "ＫＦ", "\u0430", "\u0301", "\U0001f600", "\ud7ff", "95", "元", "_", "我的手机号", "、", "(", ")",
]
fragment_text = st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join)
any_text = st.text(max_size=300)
control_text = st.text(alphabet=st.characters(max_codepoint=0x9f), max_size=200)


def assert_well_formed(text: str) -> None:
    result = scam.detect(text)
    assert isinstance(result.is_scam, bool) and isinstance(result.score, float)
    found = verifier.check(text, REGISTRY)
    assert len(found) <= verifier.MAX_IDENTIFIERS
    assert all(v.status in STATUSES and v.kind in verifier.KIND_NAMES for v in found)
    for ident in verifier.extract(text):
        assert verifier.judge(ident, REGISTRY).status in STATUSES
    if found:
        assert len(verifier.reply_text(found, REGISTRY).encode("utf-8")) <= verifier.MAX_REPLY_BYTES
    for check in (CHECKS.scam_check, CHECKS.verify_check):
        decision = check(text)
        assert decision is None or isinstance(decision, RouteDecision)
        if decision is not None:
            assert decision.reply and len(decision.reply.encode("utf-8")) < 2048


@settings(max_examples=300, deadline=None)
@given(any_text)
def test_arbitrary_unicode(text):
    assert_well_formed(text)


@settings(max_examples=300, deadline=None)
@given(fragment_text)
def test_joined_fragments(text):
    assert_well_formed(text)


@settings(max_examples=200, deadline=None)
@given(control_text)
def test_control_characters(text):
    assert_well_formed(text)


@settings(max_examples=20, deadline=None)
@given(fragment_text.filter(bool), st.integers(min_value=50, max_value=400))
def test_huge_inputs_are_read_up_to_the_cap(piece, times):
    text = piece * times
    assert_well_formed(text)
    # Only the first MAX_CHARS characters count: what follows cannot change the answer.
    head = (text * (verifier.MAX_CHARS // len(text) + 1))[:verifier.MAX_CHARS]
    assert scam.detect(head + "安全账户" * 100).is_scam == scam.detect(head).is_scam


def test_odd_inputs():
    for text in ["", "\x00" * 5000, "\ud800", "xn--" * 600, "xn--zzzzzzzz-9999.com 是官网吗", "KF" + "9" * 5000,
                 "1" * 100000, "。" * 3000, "@." * 3000, "工号" + "、1003" * 800]:
        assert_well_formed(text)


def test_non_str_input_is_treated_as_empty():
    assert verifier.normalize_text(None) == ""  # type: ignore[arg-type]
    assert not scam.detect(None).is_scam  # type: ignore[arg-type]
