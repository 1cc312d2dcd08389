"""One canonical form for what users type, so that matching compares like with like.

`normalize` folds full-width characters to half-width (NFKC), traditional to
simplified Chinese (OpenCC t2s), upper to lower case, and drops punctuation,
emoji and whitespace. `clauses` does the same per clause, split at punctuation,
so a long story can be matched phrase by phrase.

`pinyin_tokens` turns normalised text into toneless pinyin syllables: Chinese
characters through pypinyin, Latin runs typed as pinyin ("tixian shibai")
segmented into syllables, anything else (English words, digits) kept whole.
`phonetic_key` packs those tokens into a string with one character per token,
with the usual input-method confusions folded (zh/z, ch/c, sh/s, -ng/-n), so
that rapidfuzz and substring look-ups treat 体现 and 提现, 冻洁 and 冻结,
"tixian" and 提现 as the same thing.

Plain functions; converters are built once and results are cached.
"""
from __future__ import annotations

import re
import unicodedata
import zlib
from functools import lru_cache

from opencc import OpenCC
from pypinyin import lazy_pinyin
from pypinyin.contrib.tone_convert import to_normal
from pypinyin.pinyin_dict import pinyin_dict
from pypinyin.seg.mmseg import seg as _words

_T2S = OpenCC("t2s")

# \w keeps letters (CJK included) and digits; "_" is a word character too, so drop it separately.
_NOT_WORD = re.compile(r"[\W_]+")
# Clause boundaries: anything that is neither a word character nor a plain space.
_CLAUSE_BREAK = re.compile(r"[^\w\s]+|_+|\n+")
#: Unicode categories of emoji and their joiners and selectors (symbols, formats, marks).
_DECORATION = frozenset({"So", "Sk", "Cf", "Mn", "Me", "Cs", "Co"})
_HANZI = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUNS = re.compile(f"[{_HANZI}]+|[^{_HANZI}]+")
_HANZI_CHAR = re.compile(f"[{_HANZI}]")
_OTHER_TOKENS = re.compile(r"[a-z]+|[0-9]+|.")

#: Latin runs longer than this are not tried as pinyin (keeps segmentation cheap).
_MAX_PINYIN_RUN = 40
# Interjections pypinyin lists as syllables; as segments they would split English words.
_NOT_SYLLABLES = {"m", "n", "ng", "hm", "hng", "r", "ei", "o"}


def _syllables() -> frozenset[str]:
    readings = set()
    for value in pinyin_dict.values():
        readings.update(value.split(","))
    plain = {to_normal(r).replace("ü", "v") for r in readings}
    return frozenset(s for s in plain if s.isascii() and s.isalpha()) - _NOT_SYLLABLES


SYLLABLES = _syllables()
_LONGEST_SYLLABLE = max(map(len, SYLLABLES))


@lru_cache(maxsize=65536)
def _traditional(char: str) -> bool:
    return _T2S.convert(char) != char


def to_simplified(text: str) -> str:
    """Traditional to simplified Chinese; text without a traditional character is returned as is
    (OpenCC is pure Python, and most messages need no conversion)."""
    return _T2S.convert(text) if any(map(_traditional, text)) else text


# A pinyin syllable typed with its tone as a digit ("zhu4 xiao1", "shou4xu4fei4"); KF1002 or trc20 are not.
_TONE_NUMBER = re.compile(r"(?<![a-z])([a-zv]{1,6})[1-5](?![0-9])", re.I)
_MARKED_LATIN = re.compile("[\u00c0-\u024f]+")


def untoned(text: str) -> str:
    """Pinyin without its tones: tone marks off Latin letters (zhù xiāo → zhu xiao) and tone
    digits after a syllable (zhu4 xiao1 → zhu xiao); everything else as it is."""
    text = _MARKED_LATIN.sub(
        lambda m: "".join(c for c in unicodedata.normalize("NFKD", m.group()) if not unicodedata.combining(c)), text)
    while True:   # to a fixed point: a digit dropped can join two runs into a syllable ("e1r2" → "er2" → "er")
        done = _TONE_NUMBER.sub(lambda m: m.group(1) if m.group(1).lower() in SYLLABLES else m.group(), text)
        if done == text:
            return done
        text = done


@lru_cache(maxsize=8192)
def normalize(text: str) -> str:
    """Half-width, simplified, lower-case text with only letters and digits left (pinyin untoned)."""
    text = unicodedata.normalize("NFKC", text or "")
    # untoned before the spaces go ("shou4 xu4 fei4 zen3 me suan4") and after (punctuation gone, so that
    # normalising twice changes nothing)
    return untoned(_NOT_WORD.sub("", untoned(to_simplified(text).lower())))


def clauses(text: str, at_emoji: bool = True) -> list[str]:
    """The normalised clauses of `text`, split at punctuation, emoji and line breaks; `at_emoji=False`:
    an emoji between words is decoration, not a break ("转账💸要收钱吗" is one question)."""
    folded = unicodedata.normalize("NFKC", text or "")
    if not at_emoji:
        folded = "".join(c for c in folded if unicodedata.category(c) not in _DECORATION)
    parts = (normalize(part) for part in _CLAUSE_BREAK.split(folded))
    return [part for part in parts if part]


@lru_cache(maxsize=4096)
def split_pinyin(run: str) -> tuple[str, ...] | None:
    """Segment a Latin run into pinyin syllables (fewest syllables wins); None if impossible."""
    if not run or len(run) > _MAX_PINYIN_RUN:
        return None
    n = len(run)
    best: list[tuple[str, ...] | None] = [None] * (n + 1)
    best[0] = ()
    for end in range(1, n + 1):
        for start in range(max(0, end - _LONGEST_SYLLABLE), end):
            head = best[start]
            if head is None or run[start:end] not in SYLLABLES:
                continue
            if best[end] is None or len(head) + 1 < len(best[end]):
                best[end] = head + (run[start:end],)
    return best[n]


@lru_cache(maxsize=16384)
def _word_pinyin(word: str) -> tuple[str, ...]:
    return tuple(lazy_pinyin(word))


@lru_cache(maxsize=8192)
def pinyin_tokens(normalized: str) -> tuple[str, ...]:
    """Toneless pinyin of normalised text; Latin pinyin segmented, other words and digits kept."""
    tokens: list[str] = []
    for run in _RUNS.findall(normalized):
        if _HANZI_CHAR.match(run):
            # pypinyin's own word segmentation, so polyphones read as in the phrase (银行: yin hang);
            # words repeat a lot, so converting word by word is what makes this cache pay.
            for word in _words.cut(run):
                tokens.extend(_word_pinyin(word))
            continue
        for piece in _OTHER_TOKENS.findall(run):
            syllables = split_pinyin(piece) if piece.isalpha() and piece.isascii() else None
            tokens.extend(syllables or (piece,))
    return tuple(tokens)


_LOOSE_INITIALS = (("zh", "z"), ("ch", "c"), ("sh", "s"))


@lru_cache(maxsize=2048)
def loose_syllable(syllable: str) -> str:
    """Fold the confusions pinyin input methods allow: zh/z, ch/c, sh/s, -ng/-n."""
    for strict, loose in _LOOSE_INITIALS:
        if syllable.startswith(strict):
            syllable = loose + syllable[len(strict):]
            break
    if syllable.endswith(("ang", "eng", "ing")):
        syllable = syllable[:-1]
    return syllable


# One private-use character per loose syllable; other tokens hash into a second private plane.
_SYLLABLE_CODES = {s: chr(0xE000 + i) for i, s in enumerate(sorted({loose_syllable(s) for s in SYLLABLES}))}
_WORD_CODE_BASE, _WORD_CODE_SPAN = 0xF0000, 0xFFFE


def _code(token: str) -> str:
    loose = loose_syllable(token)
    code = _SYLLABLE_CODES.get(loose)
    if code is None:
        code = chr(_WORD_CODE_BASE + zlib.crc32(token.encode("utf-8")) % _WORD_CODE_SPAN)
    return code


@lru_cache(maxsize=8192)
def phonetic_key(normalized: str) -> str:
    """One character per pinyin token (see module docstring); equal keys sound alike."""
    return "".join(_code(token) for token in pinyin_tokens(normalized))


def clear_caches() -> None:
    """Forget every cached result (benchmarks measure cold matching with this)."""
    for cached in (normalize, _traditional, split_pinyin, _word_pinyin, pinyin_tokens, loose_syllable, phonetic_key):
        cached.cache_clear()
