"""Ranks FAQ entries for one user message: keywords, synonyms, fuzzy and pinyin matching.

Everything that can be computed ahead is computed when a `Matcher` is built
(once per corpus load): the canonical text and phonetic key of every question
and similar question, a keyword index by text and by sound, and, for large
corpora, an index of sounds and sound pairs that picks which questions are
worth a fuzzy comparison. Matching a message is then a handful of dict look-ups and
one rapidfuzz pass per clause.

Scores run 0..100:

* keyword: how much of the message the entry's keywords explain, more for
  several distinct keywords, less when a keyword only matched by sound
  (体现 for 提现);
* fuzzy: rapidfuzz similarity to the closest question, by characters or by
  sound, over the whole message and over each clause of a long one;
* an entry found both ways gets part of the way from the higher score to 100.

Plain Python: no Flask, no Redis. Entries are `MatchDoc`s (faq.py builds them).
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Mapping

from rapidfuzz import fuzz, process

from bot.decision import Candidate
from bot.normalize import clauses, normalize, phonetic_key

#: A keyword hit is worth this much before coverage and count are added.
KEYWORD_BASE = 55.0
#: Added in proportion to how much of the message the keywords cover.
KEYWORD_COVERAGE_WEIGHT = 35.0
#: Coverage is measured against at most this many characters, so one precise phrase
#: in a long story still counts.
COVERAGE_CAP = 10
#: Per extra distinct keyword, up to KEYWORD_EXTRA_MAX of them.
KEYWORD_EXTRA = 4.0
KEYWORD_EXTRA_MAX = 2
#: Taken off when the entry's keywords only matched by sound, never by text.
SOUND_ONLY_PENALTY = 8.0
#: Taken off a fuzzy score computed on sound rather than characters.
SOUND_FUZZY_PENALTY = 3.0
#: Share of the gap to 100 an entry gains when keyword and fuzzy scores agree.
AGREEMENT_SHARE = 0.25
#: Fuzzy scores below this are ignored.
FUZZY_CUTOFF = 45.0
#: Fuzzy hits kept per clause before they are grouped by entry.
FUZZY_LIMIT = 25
#: At most this many clauses of a long message are compared one by one.
MAX_CLAUSES = 8
#: Only the start of a longer message is matched (keeps the worst case a few milliseconds).
MAX_TEXT_CHARS = 300
#: Up to this many questions every message is compared with all of them; above it an
#: index of sounds and sound pairs picks at most PREFILTER_LIMIT questions per message.
FULL_SCAN_CHOICES = 3000
PREFILTER_LIMIT = 1000
#: Function words left out of fuzzy comparisons, so that "怎么…吗" alone never makes two
#: questions look alike. Keywords still see the full text.
FUZZY_STOPWORDS = (
    "怎么办", "怎么样", "怎么回事", "怎么", "怎样", "如何", "为什么", "为啥", "什么", "请问", "你们", "我们", "我的",
    "一直", "总是", "老是", "是不是", "能不能", "可不可以", "可以", "有没有", "一下", "这个", "那个", "是否",
    "帮我", "我想", "我要", "现在", "的", "了", "吗", "呢", "啊", "吧", "呀", "哦", "嘛", "哈",
)
_STOPWORDS = re.compile("|".join(map(re.escape, sorted(FUZZY_STOPWORDS, key=len, reverse=True))))


def content(canonical: str) -> str:
    """Canonical text without FUZZY_STOPWORDS (what fuzzy matching compares)."""
    return _STOPWORDS.sub("", canonical)


@dataclass(frozen=True)
class MatchDoc:
    """What the matcher needs of an FAQ entry (texts already rendered)."""
    id: str
    question: str
    similar_questions: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()


class Canonicalizer:
    """Rewrites the words users write instead (synonyms) to their canonical word."""

    def __init__(self, synonyms: Mapping[str, Iterable[str]] | None = None):
        table: dict[str, str] = {}
        for canonical, variants in (synonyms or {}).items():
            target = normalize(canonical)
            for variant in variants:
                word = normalize(variant)
                if word and target and word != target:
                    table[word] = target
        self.table = table
        words = sorted(table, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, words))) if words else None
        self.apply = lru_cache(maxsize=8192)(self._apply)

    def _apply(self, normalized: str) -> str:
        if self._pattern is None:
            return normalized
        return self._pattern.sub(lambda m: self.table[m.group(0)], normalized)

    def __call__(self, text: str) -> str:
        """Normalise `text` and rewrite its synonyms."""
        return self.apply(normalize(text))


@dataclass
class _Hits:
    keywords: set
    text_spans: list
    key_spans: list
    by_text: bool = False


def _covered(spans: list[tuple[int, int]]) -> int:
    covered, end = 0, -1
    for start, stop in sorted(spans):
        start = max(start, end)
        if stop > start:
            covered += stop - start
            end = stop
    return covered


def _grams(key: str) -> set[str]:
    """The sounds and sound pairs of a phonetic key (what the shortlist index is keyed by)."""
    return set(key) | {key[i:i + 2] for i in range(len(key) - 1)}


def _substrings(text: str, lengths: Iterable[int]):
    for length in lengths:
        for start in range(len(text) - length + 1):
            yield start, length, text[start:start + length]


class Matcher:
    def __init__(self, docs: Iterable[MatchDoc], synonyms: Mapping[str, Iterable[str]] | None = None):
        self.docs = list(docs)
        self.canonical = Canonicalizer(synonyms)
        self._choice_texts: list[str] = []
        self._choice_keys: list[str] = []
        self._choice_owner: list[int] = []
        self._choice_label: list[str] = []
        by_text: dict[str, list[tuple[int, str]]] = defaultdict(list)
        by_key: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for index, doc in enumerate(self.docs):
            labelled = [("question", doc.question)]
            labelled += [(f"similar#{n}", text) for n, text in enumerate(doc.similar_questions, 1)]
            for label, text in labelled:
                canonical = self.canonical(text)
                if canonical:
                    self._add_choice(index, label, canonical)
            for keyword in doc.keywords:
                canonical = self.canonical(keyword)
                if not canonical:
                    continue
                by_text[canonical].append((index, keyword))
                key = phonetic_key(canonical)
                if len(key) >= 2:
                    by_key[key].append((index, keyword))
        self._kw_text = dict(by_text)
        self._kw_key = dict(by_key)
        self._kw_text_lengths = sorted({len(k) for k in by_text})
        self._kw_key_lengths = sorted({len(k) for k in by_key})
        self._choices_of: dict[int, list[int]] = defaultdict(list)
        for choice, owner in enumerate(self._choice_owner):
            self._choices_of[owner].append(choice)
        self._postings = self._gram_postings() if len(self._choice_texts) > FULL_SCAN_CHOICES else None

    def _add_choice(self, owner: int, label: str, canonical: str) -> None:
        text = content(canonical) or canonical
        self._choice_texts.append(text)
        self._choice_keys.append(phonetic_key(text))
        self._choice_owner.append(owner)
        self._choice_label.append(label)

    def _gram_postings(self) -> dict[str, list[int]]:
        postings: dict[str, list[int]] = defaultdict(list)
        for index, key in enumerate(self._choice_keys):
            for gram in _grams(key):
                postings[gram].append(index)
        return dict(postings)

    def __len__(self) -> int:
        return len(self.docs)

    # --- keywords ------------------------------------------------------------------------
    def _keyword_hits(self, text: str, key: str) -> dict[int, _Hits]:
        hits: dict[int, _Hits] = {}

        def record(owner: int, keyword: str, span: tuple[int, int], spans_of: str, exact: bool) -> None:
            found = hits.setdefault(owner, _Hits(set(), [], []))
            found.keywords.add(keyword)
            getattr(found, spans_of).append(span)
            found.by_text = found.by_text or exact

        for start, length, piece in _substrings(text, self._kw_text_lengths):
            for owner, keyword in self._kw_text.get(piece, ()):
                record(owner, keyword, (start, start + length), "text_spans", True)
        for start, length, piece in _substrings(key, self._kw_key_lengths):
            for owner, keyword in self._kw_key.get(piece, ()):
                record(owner, keyword, (start, start + length), "key_spans", False)
        return hits

    @staticmethod
    def _keyword_score(hits: _Hits, text: str, key: str) -> float:
        coverage = max(_covered(hits.text_spans) / max(min(len(text), COVERAGE_CAP), 1),
                       _covered(hits.key_spans) / max(min(len(key), COVERAGE_CAP), 1))
        score = KEYWORD_BASE + KEYWORD_COVERAGE_WEIGHT * min(coverage, 1.0)
        score += KEYWORD_EXTRA * min(len(hits.keywords) - 1, KEYWORD_EXTRA_MAX)
        if not hits.by_text:
            score -= SOUND_ONLY_PENALTY
        return min(score, 100.0)

    # --- fuzzy ---------------------------------------------------------------------------
    def _shortlist(self, keys: list[str], owners: Iterable[int]) -> list[int] | None:
        """Indexes of the questions worth comparing (None: all of them)."""
        if self._postings is None:
            return None
        grams = set().union(*map(_grams, keys))
        lists = sorted((self._postings[g] for g in grams if g in self._postings), key=len)
        chosen = {i for owner in owners for i in self._choices_of[owner]}
        for posting in lists:
            if len(chosen) + len(posting) > PREFILTER_LIMIT:
                break
            chosen.update(posting)
        return sorted(chosen)

    def _fuzzy(self, queries: list[tuple[str, str]], shortlist: list[int] | None) -> dict[int, tuple[float, str]]:
        best: dict[int, tuple[float, str]] = {}
        if shortlist is None:
            texts, keys, index_of = self._choice_texts, self._choice_keys, None
        else:
            texts = [self._choice_texts[i] for i in shortlist]
            keys = [self._choice_keys[i] for i in shortlist]
            index_of = shortlist
        for text, key in queries:
            for choices, query, penalty, kind in ((texts, text, 0.0, "fuzzy"),
                                                  (keys, key, SOUND_FUZZY_PENALTY, "fuzzy-pinyin")):
                found = process.extract(query, choices, scorer=fuzz.ratio, processor=None,
                                        limit=FUZZY_LIMIT, score_cutoff=FUZZY_CUTOFF + penalty)
                for _, score, position in found:
                    choice = position if index_of is None else index_of[position]
                    owner = self._choice_owner[choice]
                    score -= penalty
                    if score > best.get(owner, (0.0, ""))[0]:
                        best[owner] = (score, f"{kind}:{self._choice_label[choice]}={score:.0f}")
        return best

    # --- ranking -------------------------------------------------------------------------
    def match(self, text: str, limit: int = 5) -> list[Candidate]:
        """The best `limit` entries for `text`, highest score first (empty if nothing scores)."""
        parts = [self.canonical.apply(part) for part in clauses(text[:MAX_TEXT_CHARS])][:MAX_CLAUSES]
        parts = [part for part in parts if part]
        if not parts or not self.docs:
            return []
        whole = "".join(parts)
        whole_key = phonetic_key(whole)
        pieces = [whole] + (parts if len(parts) > 1 else [])
        queries = [(text, phonetic_key(text)) for text in map(content, pieces) if text]
        hits = self._keyword_hits(whole, whole_key)
        fuzzy = self._fuzzy(queries, self._shortlist([q[1] for q in queries], hits.keys()))
        ranked = []
        for owner in hits.keys() | fuzzy.keys():
            reasons: list[str] = []
            keyword_score = 0.0
            if owner in hits:
                keyword_score = self._keyword_score(hits[owner], whole, whole_key)
                kind = "keyword" if hits[owner].by_text else "keyword-pinyin"
                reasons += [f"{kind}:{k}" for k in sorted(hits[owner].keywords)]
            fuzzy_score, why = fuzzy.get(owner, (0.0, ""))
            if why:
                reasons.append(why)
            high, low = max(keyword_score, fuzzy_score), min(keyword_score, fuzzy_score)
            score = high + AGREEMENT_SHARE * (100.0 - high) * low / 100.0
            doc = self.docs[owner]
            ranked.append(Candidate(doc.id, doc.question, round(score, 1), tuple(reasons)))
        ranked.sort(key=lambda c: (-c.score, c.faq_id))
        return ranked[:limit]
