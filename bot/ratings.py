"""Reading a satisfaction score (1-5) out of a reply to the survey, by config/ratings.json.

Plain Python: the table says which numbers, numerals, stars and words mean
which score; `rating_of` applies it. No I/O but loading the table.
"""
from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from config.settings import PROJECT_ROOT

RATINGS_FILE = PROJECT_ROOT / "config" / "ratings.json"
LOWEST, HIGHEST = 1, 5


def _alternation(words) -> str:
    return "|".join(map(re.escape, sorted(words, key=len, reverse=True)))


@dataclass(frozen=True)
class RatingTable:
    shown: tuple[str, ...]
    words: dict[str, int]
    numerals: dict[str, int]
    number: re.Pattern       # a number not followed by a unit that makes it something else
    numeral: re.Pattern      # a numeral followed by a rating unit ("五星"), or alone
    word: re.Pattern
    stars: tuple[str, ...]

    @classmethod
    def from_dict(cls, data: dict) -> "RatingTable":
        words = {unicodedata.normalize("NFKC", w): int(s) for w, s in data["words"].items()}
        numerals = dict(data["numerals"])
        not_units = _alternation(data["not_units"])
        numeral_chars = "".join(numerals)
        return cls(
            shown=tuple(data["shown"]), words=words, numerals=numerals,
            number=re.compile(rf"(?<![\d.])(\d+)(?![\d.])(?!\s*(?:{not_units}))"),
            numeral=re.compile(rf"([{numeral_chars}])\s*(?:{_alternation(data['units'])})|^\s*([{numeral_chars}])\s*$"),
            word=re.compile(_alternation(words)),
            stars=tuple(data["stars"]),
        )

    def rating_of(self, text: str) -> int | None:
        """The score in `text`, or None if it holds none (or two different ones)."""
        text = unicodedata.normalize("NFKC", text or "")
        numbers = {int(n) for n in self.number.findall(text)}
        numbers |= {self.numerals[a or b] for a, b in self.numeral.findall(text)}
        if numbers:
            score = numbers.pop()
            return score if not numbers and LOWEST <= score <= HIGHEST else None
        stars = sum(text.count(star) for star in self.stars)
        if stars:
            return stars if stars <= HIGHEST else None
        match = self.word.search(text)
        return self.words[match.group(0)] if match else None


@lru_cache(maxsize=1)
def table(path: Path = RATINGS_FILE) -> RatingTable:
    with open(path, encoding="utf-8") as fh:
        return RatingTable.from_dict(json.load(fh))


def rating_of(text: str) -> int | None:
    return table().rating_of(text)


def how_to_rate() -> str:
    """The survey's instructions, with the words the table understands."""
    words = "”“".join(table().shown)
    return f"回复 {LOWEST}-{HIGHEST} 的数字（{HIGHEST} 分最满意），或直接回复“{words}”。"


def again_text() -> str:
    """Asked once more when a reply to the survey holds no score."""
    return "抱歉，没看懂您的评分。请" + how_to_rate() + "不想评价也没关系，直接发您的问题就好。"


#: After the second reply without a score: the survey is dropped, never a fallback or a handoff.
SKIPPED_TEXT = "好的，这次就不评价了，感谢您的耐心！还有问题随时发消息给我。"
