"""Training-time variants of the examples: how the same question arrives typed badly.

Staff write each example once; `variants(text, rng, homophones)` makes the
noisy renderings people actually send, so nobody hand-writes them:

* homophone swaps: a character replaced by another with the same toneless pinyin
  (体现 for 提现, 仁工 for 人工), drawn from the 3,755 most common characters (GB2312
  level 1, what a pinyin input method offers first: `HomophoneTable`);
* traditional characters (OpenCC s2t);
* pinyin renderings: with spaces, run together, with tone marks, initials of a few words;
* the staff's synonyms (faq_data/synonyms.json): 提现 ↔ 取钱 ↔ withdraw;
* punctuation, emoji and filler noise (急！！！, 😭, 在吗, 请问).

Deterministic for a given seed, so a corpus always trains to the same model; and
an example's variants depend on nothing but the example (`example_rng`), so a
retrain after an edit re-makes only the variants of the examples that changed.
"""
from __future__ import annotations

import random
import unicodedata
from collections import defaultdict
from functools import lru_cache

from opencc import OpenCC
from pypinyin import Style, lazy_pinyin

_S2T = OpenCC("s2t")
_HANZI = ("\u4e00", "\u9fff")
NOISE_TAILS = ("？", "??", "！！", "。", "…", " 急", "急急急", "😭", "🙏", "😡", "😂", "🤔", "啊", "呢", "啊啊啊", "谢谢")
NOISE_HEADS = ("请问", "你好，", "在吗 ", "客服，", "问下", "那个", "hello ", "急！", "您好 ")


def _is_hanzi(char: str) -> bool:
    return _HANZI[0] <= char <= _HANZI[1]


def common_characters() -> str:
    """GB2312 level 1: the 3,755 most common simplified characters."""
    pairs = (bytes((high, low)) for high in range(0xB0, 0xD8) for low in range(0xA1, 0xFF))
    chars = []
    for pair in pairs:
        try:
            chars.append(pair.decode("gb2312"))
        except UnicodeDecodeError:
            continue
    return "".join(chars)


@lru_cache(maxsize=None)
def _sound(char: str) -> str:
    """The toneless pinyin of one character (a few thousand distinct ones: cached for good)."""
    return lazy_pinyin(char)[0]


def example_rng(text: str, seed: int = 0) -> random.Random:
    """The random draws of one example's variants: seeded by the example itself (and `seed`)."""
    return random.Random(f"{seed}\x00{text}")


class HomophoneTable:
    """Characters grouped by toneless pinyin: the common characters, and any `extra` ones given."""

    def __init__(self, extra=()):
        by_sound: dict[str, set[str]] = defaultdict(set)
        for char in set(common_characters()).union(*map(set, extra)):
            if _is_hanzi(char):
                by_sound[_sound(char)].add(char)
        self._by_sound = {k: sorted(v) for k, v in by_sound.items() if len(v) > 1}

    def swap(self, text: str, rng: random.Random, count: int = 1) -> str:
        chars = list(text)
        spots = [i for i, c in enumerate(chars) if _is_hanzi(c) and _sound(c) in self._by_sound]
        for i in rng.sample(spots, min(count, len(spots))):
            options = [c for c in self._by_sound[_sound(chars[i])] if c != chars[i]]
            chars[i] = rng.choice(options)
        return "".join(chars)


def pinyin_rendering(text: str, rng: random.Random) -> str:
    """The message as a pinyin typist sends it: spaced or not, toneless or with tone marks."""
    style = rng.choice((Style.NORMAL, Style.NORMAL, Style.TONE))
    syllables = [s for s in lazy_pinyin(text, style=style, errors="ignore") if s.strip()]
    joiner = rng.choice((" ", "", " "))
    return joiner.join(syllables)


class SynonymTable:
    """Groups of words that mean the same (a canonical word and what users write instead)."""

    def __init__(self, synonyms: dict[str, list[str]] | None = None):
        self._groups = [[canonical, *variants] for canonical, variants in (synonyms or {}).items()]

    def swap(self, text: str, rng: random.Random) -> str:
        present = [(word, group) for group in self._groups for word in group if word and word in text]
        if not present:
            return text
        word, group = rng.choice(present)
        return text.replace(word, rng.choice([w for w in group if w != word] or [word]), 1)


def _noise(text: str, rng: random.Random) -> str:
    if rng.random() < 0.5:
        text = rng.choice(NOISE_HEADS) + text
    if rng.random() < 0.7:
        text = text.rstrip("？?。！!") + rng.choice(NOISE_TAILS)
    return text


def variants(text: str, rng: random.Random, homophones: HomophoneTable, count: int = 3,
             synonyms: SynonymTable | None = None) -> list[str]:
    """Up to `count` noisy renderings of one example (never the example itself)."""
    has_hanzi = any(_is_hanzi(c) for c in text)
    makers = [_noise]
    if synonyms is not None and synonyms.swap(text, random.Random(0)) != text:
        makers.append(synonyms.swap)
    if has_hanzi:
        makers += [lambda t, r: homophones.swap(t, r, 1 + (len(t) > 8)),
                   lambda t, r: _S2T.convert(t),
                   pinyin_rendering]
    out = []
    for maker in rng.sample(makers, min(count, len(makers))):
        variant = unicodedata.normalize("NFC", maker(text, rng))
        if variant and variant != text and variant not in out:
            out.append(variant)
    return out
