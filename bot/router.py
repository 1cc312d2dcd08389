"""Decides what to do with one user message: the dialogue around the FAQ matcher.

`Router.route(text, conversation, now)` returns a `RouteDecision` and the
updated `Conversation` (the caller stores it). Checks run in this order, the
first that applies wins:

1. prechecks (official-contact verification, scam detection), in order;
2. a number ("2", "２", "第二个") answering a clarification offered less than
   CHOICE_TTL seconds ago;
3. an explicit request for a person ("转人工", "人工客服", "找真人", typos and
   pinyin included);
4. "1" / "是" / "好" answering a fallback's offer of a person;
5. greetings, thanks and goodbyes;
6. the FAQ: a confident match answers, a close call asks the user to pick
   (numbered), nothing falls back (what the bot can do, and the offer of a
   person); a second fallback in a row hands over to a person.

Plain Python: no Flask, no Redis. The thresholds are tuned on
tests/data/labelled_messages.jsonl (see tests/test_accuracy.py).
"""
from __future__ import annotations

import re
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable, Mapping, Sequence

from bot.decision import Candidate, Conversation, RouteDecision
from bot.faq import Corpus, CorpusError, corpus_source, read_brand, render
from bot.normalize import normalize, phonetic_key

Precheck = Callable[[str], "RouteDecision | None"]

#: A match at least this good, and ahead of the next by CONFIDENT_MARGIN, is answered outright.
CONFIDENT_SCORE = 72.0
CONFIDENT_MARGIN = 8.0
#: Candidates at least this good are offered in a clarification; below it, fallback.
CLARIFY_SCORE = 52.0
#: A clarification lists candidates within this distance of the best one.
CLARIFY_SPREAD = 20.0
CLARIFY_MAX = 3
#: Seconds a clarification's numbered choices stay valid.
CHOICE_TTL = 300.0
#: Fallbacks in a row that hand the user over to a person.
FALLBACKS_BEFORE_HANDOFF = 2
#: Candidates carried in a decision (for logs and `python -m bot route`).
CANDIDATES_SHOWN = 3

# --- words of the dialogue (compared after normalisation; handoff words also by sound) -----
#: Asking for a person anywhere in the message.
HANDOFF_PHRASES = (
    "转人工", "转接人工", "接人工", "接通人工", "要人工", "找人工", "叫人工", "换人工", "人工接待",
    "找真人", "要真人", "真人来", "真人回答", "真人回复", "找个真人", "来个真人", "叫个真人", "活人",
    "不要机器人", "不想跟机器人", "不想和机器人", "不跟机器人", "不和机器人", "别让机器人", "别用机器人",
    "human", "realperson", "liveagent", "liveperson", "talktoaperson",
)
#: Naming a person or the service desk with nothing else of substance.
HANDOFF_ALONE = ("人工", "人工客服", "人工服务", "真人", "真人客服", "客服", "在线客服", "客服人员", "agent")
#: Words that add nothing to a request for a person ("我要", "帮我", "在吗").
FILLERS = (
    "我要", "我想", "我需要", "需要", "帮我", "给我", "麻烦", "麻烦你", "请", "能不能", "可以", "可不可以", "快点",
    "你好", "您好", "在吗", "在不在", "一下", "找", "转", "接", "要", "吗", "呢", "啊", "吧", "呀", "哦", "了",
    "please", "pls", "plz",
)
HELLO = ("你好", "您好", "你们好", "在吗", "在不在", "在么", "有人吗", "有人在吗", "哈喽", "哈啰", "嗨", "hi",
         "hello", "hey", "早", "早安", "早上好", "上午好", "中午好", "下午好", "晚上好")
THANKS = ("谢谢", "谢谢你", "谢谢您", "谢啦", "谢了", "多谢", "感谢", "非常感谢", "辛苦了", "辛苦", "thanks",
          "thankyou", "thx", "3q")
BYE = ("拜拜", "再见", "回见", "bye", "byebye", "88", "886")
ACK = ("好的", "好", "嗯", "嗯嗯", "哦", "哦哦", "ok", "okay", "收到", "明白了", "知道了", "懂了", "行", "了解")
#: Answers that accept a fallback's offer of a person.
YES = ("1", "是", "是的", "好", "好的", "好啊", "嗯", "嗯嗯", "要", "需要", "可以", "行", "对", "ok", "yes", "y",
       "转", "转吧", "转人工吧")
_PARTICLES = "啊呀吧哈啦呢哦嘛了的"
_NUMERALS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CHOICE = re.compile(r"^(?:选|选择|我选)?第?([1-9一二两三四五六七八九])(?:个|条|项|号|种)?(?:吧|啊|呀)?$")


def _alternation(keys) -> re.Pattern:
    """A regex matching any of `keys`, longest first."""
    return re.compile("|".join(map(re.escape, sorted(set(keys), key=len, reverse=True))))


def _words_pattern(words: Sequence[str]) -> re.Pattern:
    return _alternation(filter(None, map(normalize, words)))


def _sound_pattern(words: Sequence[str]) -> re.Pattern:
    """Chinese words by sound (English ones would turn into accidental pinyin: human = hu man)."""
    keys = (phonetic_key(normalize(w)) for w in words if not w.isascii())
    return _alternation(k for k in keys if len(k) >= 2)


_HANDOFF_TEXT = _words_pattern(HANDOFF_PHRASES)
_HANDOFF_SOUND = _sound_pattern(HANDOFF_PHRASES)
_HANDOFF_ALONE = {normalize(w) for w in HANDOFF_ALONE}
_HANDOFF_ALONE_SOUND = {phonetic_key(normalize(w)) for w in HANDOFF_ALONE}
_FILLERS = _words_pattern(FILLERS)
_GREETING_KINDS = (("thanks", THANKS), ("bye", BYE), ("hello", HELLO), ("ack", ACK))
_GREETING_WORD = _words_pattern([w for _, words in _GREETING_KINDS for w in words])
_GREETING_KIND = {normalize(w): kind for kind, words in reversed(_GREETING_KINDS) for w in words}
_YES = {normalize(w) for w in YES}

# --- what the router says (brand placeholders filled from config/brand.json) ---------------
REPLIES = {
    "hello": "您好，我是{brand_name}智能客服😊 提现、支付、退款、账户冻结、绑卡、密码安全、识别假客服、"
             "客服电话和时间等问题都可以直接问我。",
    "thanks": "不客气，很高兴能帮到您！还有其他问题随时发给我。",
    "bye": "再见，祝您生活愉快！有问题随时来找我。",
    "ack": "好的。还有其他问题可以直接发给我，需要人工请发送「转人工」。",
    "empty": "您好，请问有什么可以帮您？直接用文字描述问题就可以。",
    "handoff": "好的，正在为您转接人工客服，请稍候。",
    "handoff_after_fallbacks": "抱歉没能帮上忙，正在为您转接人工客服，请稍候。",
    "handoff_hours": "人工服务时间：{service_hours}；非服务时间请先留言，或拨打客服热线 {hotline}。",
    "fallback": "抱歉，我没太明白您的问题😅\n我可以解答：提现或支付失败、退款、账户冻结、注册和绑卡、"
                "密码与安全设置、识别假客服、客服电话和工作时间等。\n请换个说法再描述一下，或回复 1 转人工客服。",
    "clarify_head": "您是想问：",
    "clarify_tail": "回复数字即可",
    "choice_out_of_range": "请回复 1 到 {count} 之间的数字：",
}


def default_prechecks(settings, channels=None) -> list[Precheck]:
    """The prechecks the bot runs before everything else, in order: scam detection, then verification.

    Each is a callable `text -> RouteDecision | None`; the first non-None decision wins.
    `python -m bot route` and the endpoint both build their router with
    `build_router(settings, prechecks=default_prechecks(settings))`; the app passes its own
    registry source as `channels` so /healthz reports on the one the prechecks read.
    """
    from bot.safety import make_prechecks

    return make_prechecks(settings, channels)


def _choice_number(normalized: str) -> int | None:
    found = _CHOICE.match(normalized)
    if not found:
        return None
    digit = found.group(1)
    return int(digit) if digit.isdigit() else _NUMERALS[digit]


def asks_for_human(normalized: str) -> bool:
    """An explicit request for a person: a handoff phrase, or a bare "人工"/"客服" (typos by sound)."""
    if not normalized:
        return False
    if _HANDOFF_TEXT.search(normalized) or _HANDOFF_SOUND.search(phonetic_key(normalized)):
        return True
    rest = _FILLERS.sub("", normalized)
    return bool(rest) and (rest in _HANDOFF_ALONE or phonetic_key(rest) in _HANDOFF_ALONE_SOUND)


def greeting_kind(normalized: str) -> str | None:
    """hello / thanks / bye / ack when the message is only that (else None); "empty" for emoji only."""
    if not normalized:
        return "empty"
    words = _GREETING_WORD.findall(normalized)
    rest = _GREETING_WORD.sub("", normalized).strip(_PARTICLES)
    if not words or rest:
        return None
    kinds = {_GREETING_KIND[w] for w in words}
    return next(kind for kind, _ in _GREETING_KINDS if kind in kinds)


class Router:
    def __init__(self, corpus: Callable[[], Corpus], brand: Mapping[str, object],
                 prechecks: Sequence[Precheck] = ()):
        self._corpus = corpus
        self.brand = dict(brand)
        self.prechecks = tuple(prechecks)
        #: The corpus's ReloadingSource when built by `build_router` (its `.error` is for /healthz).
        self.source = None

    def answer(self, faq_id: str) -> RouteDecision:
        """The answer of one FAQ entry by id (a menu item names one); a fallback if there is none."""
        corpus = self._corpus()
        if faq_id not in corpus:
            return RouteDecision("fallback", self._say("fallback"))
        candidate = Candidate(faq_id, corpus.question(faq_id), 100.0, ("menu",))
        return RouteDecision("faq", corpus.reply(faq_id), faq_id=faq_id, score=100.0, candidates=(candidate,))

    def health(self) -> dict:
        """For /healthz: entries served, and the corpus error (None when every file loaded)."""
        count = len(self._corpus())  # get() first: it is what notices an edit
        source = self.source
        return {"count": count, "error": source.error if source else None,
                "loaded_at": source.loaded_at if source else None}

    def _say(self, key: str, **values) -> str:
        return render(REPLIES[key], {**self.brand, **values}, strict=False)

    def _handoff(self, opening: str, candidates: Sequence[Candidate] = (), unmatched: bool = False) -> RouteDecision:
        reply = self._say(opening) + "\n" + self._say("handoff_hours")
        return RouteDecision("handoff", reply, candidates=tuple(candidates), unmatched=unmatched)

    def route(self, text: str, conversation: Conversation | None = None,
              now: float | None = None) -> tuple[RouteDecision, Conversation]:
        """The decision for `text` and the conversation state to store for the next message."""
        conversation = Conversation() if conversation is None else conversation
        now = time.time() if now is None else now
        decision = self._decide(text or "", conversation, now)
        return decision, self._next_state(conversation, decision, now)

    def _decide(self, text: str, conversation: Conversation, now: float) -> RouteDecision:
        for check in self.prechecks:
            decision = check(text)
            if decision is not None:
                return decision
        normalized = normalize(text)
        corpus = self._corpus()
        picked = self._picked_choice(normalized, conversation, now, corpus)
        if picked is not None:
            return picked
        if asks_for_human(normalized):
            return self._handoff("handoff")
        if conversation.human_offered and normalized in _YES:
            return self._handoff("handoff")
        kind = greeting_kind(normalized)
        if kind:
            return RouteDecision("greeting", self._say(kind))
        return self._answer(text, conversation, corpus)

    def _picked_choice(self, normalized: str, conversation: Conversation, now: float,
                       corpus: Corpus) -> RouteDecision | None:
        choices = conversation.pending_choices
        if not choices or now - conversation.choices_at > CHOICE_TTL:
            return None
        number = _choice_number(normalized)
        if number is None:
            return None
        if not all(c in corpus for c in choices):
            return None  # an entry went away after the list was shown: its numbers no longer hold
        if number > len(choices):
            head = self._say("choice_out_of_range", count=len(choices))
            return self._clarify(corpus, choices, (), head)
        faq_id = choices[number - 1]
        candidate = Candidate(faq_id, corpus.question(faq_id), 100.0, (f"choice:{number}",))
        return RouteDecision("faq", corpus.reply(faq_id), faq_id=faq_id, score=100.0, candidates=(candidate,))

    def _clarify(self, corpus: Corpus, choices: Sequence[str], candidates: Sequence[Candidate],
                 head: str | None = None) -> RouteDecision:
        lines = [head or self._say("clarify_head")]
        lines += [f"{n}. {corpus.question(faq_id)}" for n, faq_id in enumerate(choices, 1)]
        lines.append(self._say("clarify_tail"))
        score = candidates[0].score if candidates else 0.0
        return RouteDecision("clarify", "\n".join(lines), score=score,
                             candidates=tuple(candidates), choices=tuple(choices))

    def _answer(self, text: str, conversation: Conversation, corpus: Corpus) -> RouteDecision:
        candidates = corpus.match(text, limit=max(CLARIFY_MAX, CANDIDATES_SHOWN) + 1)
        shown = tuple(candidates[:CANDIDATES_SHOWN])
        best = candidates[0] if candidates else None
        if best is None or best.score < CLARIFY_SCORE:
            if conversation.fallbacks_in_row + 1 >= FALLBACKS_BEFORE_HANDOFF:
                return self._handoff("handoff_after_fallbacks", shown, unmatched=True)
            return RouteDecision("fallback", self._say("fallback"), score=best.score if best else 0.0,
                                 candidates=shown, unmatched=True)
        runner_up = candidates[1].score if len(candidates) > 1 else 0.0
        if best.score >= CONFIDENT_SCORE and best.score - runner_up >= CONFIDENT_MARGIN:
            return RouteDecision("faq", corpus.reply(best.faq_id), faq_id=best.faq_id, score=best.score,
                                 candidates=shown)
        close = [c for c in candidates if c.score >= max(CLARIFY_SCORE, best.score - CLARIFY_SPREAD)]
        close = close[:CLARIFY_MAX]
        return self._clarify(corpus, [c.faq_id for c in close], close)

    @staticmethod
    def _next_state(conversation: Conversation, decision: RouteDecision, now: float) -> Conversation:
        if decision.route == "clarify":
            return replace(conversation, pending_choices=decision.choices, choices_at=now,
                           fallbacks_in_row=0, human_offered=False)
        if decision.route == "fallback":
            return replace(conversation, pending_choices=(), choices_at=0.0,
                           fallbacks_in_row=conversation.fallbacks_in_row + 1, human_offered=True)
        return replace(conversation, pending_choices=(), choices_at=0.0, fallbacks_in_row=0, human_offered=False)


def build_router(settings, prechecks: Sequence[Precheck] = ()) -> Router:
    """A Router over BOT_FAQ_DIR (hot-reloaded every BOT_RELOAD_INTERVAL s) and BOT_BRAND_FILE."""
    source = corpus_source(settings)
    try:
        brand = read_brand(Path(settings.BOT_BRAND_FILE))
    except CorpusError:
        brand = {}  # the corpus source has recorded the problem; replies keep their {placeholders}
    router = Router(source.get, brand, prechecks)
    router.source = source
    return router
