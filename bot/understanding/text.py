"""What the model reads of a message: one canonical text, its pinyin, and its clauses.

`model_text` is `bot.normalize.normalize` that keeps emoji (a lone 👍 is an
acknowledgement, a lone 😂 is not a question), so the classifier sees what a
user wrote minus the noise: full-width folded, traditional characters turned
simplified, lower case, punctuation and spaces dropped. `embed_text` is the
lighter form given to the sentence embedder, which reads spaces and
punctuation well. `syllables` is the loose pinyin (zh/z, -ng/-n folded) that
makes 体现 and 提现, or "tixian" and 提现, the same to the model.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from bot.normalize import clauses, loose_syllable, normalize, pinyin_tokens, to_simplified, untoned

__all__ = ["model_text", "embed_text", "syllables", "clauses", "normalize"]

_EMOJI_NOISE = re.compile("[\u200d\ufe0e\ufe0f\U0001f3fb-\U0001f3ff]")
_SPACES = re.compile(r"\s+")
#: Only the start of a very long message is read: enough for any real question.
MAX_CHARS = 400


def _keep(char: str) -> bool:
    if char.isalnum():
        return True
    return unicodedata.category(char) == "So"   # emoji and other symbols


@lru_cache(maxsize=8192)
def model_text(text: str) -> str:
    """Canonical text for the classifier: normalised, emoji kept (skin tones and joiners dropped)."""
    text = unicodedata.normalize("NFKC", (text or "")[:MAX_CHARS])
    text = _EMOJI_NOISE.sub("", untoned(to_simplified(text).lower()))
    return "".join(c for c in text if _keep(c) and c != "_")


#: The embedder reads at most this many characters (its cost grows with the length): a long story's
#: question is at its start or its end, so the middle is what is left out.
EMBED_CHARS = 160


@lru_cache(maxsize=8192)
def embed_text(text: str) -> str:
    """The message for the sentence embedder: simplified, half-width, spaces collapsed, its middle
    left out past EMBED_CHARS."""
    text = _SPACES.sub(" ", untoned(to_simplified(unicodedata.normalize("NFKC", (text or "")[:MAX_CHARS])))).strip()
    if len(text) > EMBED_CHARS:
        half = EMBED_CHARS // 2
        text = f"{text[:half]}…{text[-half:]}"
    return text


@lru_cache(maxsize=8192)
def syllables(text: str) -> tuple[str, ...]:
    """Loose toneless pinyin of the message (Latin pinyin segmented; other words kept whole)."""
    return tuple(loose_syllable(t) if t.isalpha() else t for t in pinyin_tokens(normalize(text)))
