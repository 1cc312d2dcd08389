"""Decides what to do with one user message: the dialogue around the intent model.

`Router.route(text, conversation, now)` returns a `RouteDecision` and the
updated `Conversation` (the caller stores it). In order, the first that applies wins:

1. a number ("2", "２", "第二个") answering a clarification offered less than
   `choice_ttl` seconds ago;
2. "是" / "好" accepting what the last reply offered: the second question of a
   two-question message, or a person after a fallback;
3. the model reads the message (`bot.understanding`), against the last topic when
   it is a follow-up ("那要多久", the `follow_up` intent) and after the correction
   marker when it is a correction ("不是这个，我问的是…");
4. the safety prechecks see the text and that reading: a scam in progress or a
   victim (scam_alert, priority), then a contact to verify (verify); a question
   about a contact that names none (the `contact_check` intent) gets the FAQ entry
   the intent names (`answer_with`: how to tell real staff from fake);
5. the reply policy (`bot.understanding.policy`): a handoff, greeting or
   out-of-scope intent; an FAQ answer, an answer with one line offering another
   wording, a numbered menu of two or three, or the fallback; a second fallback in
   a row hands over to a person. A message with two questions gets the first
   answered and the second offered.

A message that gives away a secret or an identity number (bot.sensitive) gets a warning in
front of whatever the reply is.

Plain Python: no Flask, no Redis. Thresholds and dialogue words are data
(config/understanding.json, calibrated on the dev set by tools/calibrate.py).
"""
from __future__ import annotations

import re
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable, Mapping, Sequence

from bot import scam, sensitive
from bot.decision import Candidate, Conversation, RouteDecision
from bot.faq import Corpus, CorpusError, corpus_source, read_brand, render
from bot.normalize import clauses, normalize
from bot.understanding import load_config
from bot.understanding.model import Reading
from bot.understanding.policy import Thresholds, choose
from bot.understanding.text import model_text

#: A precheck sees the message and the model's reading of it; the first non-None decision wins.
Precheck = Callable[[str, "Reading | None"], "RouteDecision | None"]

# --- what the router says (brand placeholders filled from config/brand.json) ---------------
REPLIES = {
    "hello": "您好，我是{brand_name}智能客服😊 提现、支付、退款、账户冻结、绑卡、密码安全、识别假客服、"
             "客服电话和时间等问题都可以直接问我。",
    "empty": "您好，请问有什么可以帮您？直接用文字描述问题就可以。",
    "handoff": "好的，正在为您转接人工客服，请稍候。",
    "handoff_after_fallbacks": "抱歉没能帮上忙，正在为您转接人工客服，请稍候。",
    "handoff_hours": "人工服务时间：{service_hours}；非服务时间请先留言，或拨打客服热线 {hotline}。",
    "fallback": "抱歉，我没太明白您的问题😅\n我可以解答：提现或支付失败、退款、转错账、手续费、账户冻结和注销、"
                "注册和绑卡、换绑手机、验证码、密码与安全设置、识别假客服、客服电话和工作时间等。\n"
                "请换个说法再描述一下，或回复 1 转人工客服。",
    "offer_other": "不是这个？换个说法或回复「人工」。",
    "still_stuck": "照上面做了还是不行的话，回复「人工」为您转接人工客服，也可以拨打热线 {hotline}。",
    "offer_second": "您还问到「{question}」，回复「是」我接着解答。",
    "clarify_head": "您是想问：",
    "clarify_tail": "回复数字即可",
    "choice_out_of_range": "请回复 1 到 {count} 之间的数字：",
}

_NUMERALS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CHOICE = re.compile(r"^(?:选|选择|我选)?第?([1-9一二两三四五六七八九])(?:个|条|项|号|种)?(?:吧|啊|呀)?$")


def default_prechecks(settings, channels=None) -> list[Precheck]:
    """The prechecks the bot runs on every reading, in order: scam (and victim) detection, then verification.

    `python -m bot route` and the endpoint both build their router with
    `build_router(settings, prechecks=default_prechecks(settings))`; the app passes its own
    registry source as `channels` so /healthz reports on the one the prechecks read.
    """
    from bot.safety import make_prechecks

    return make_prechecks(settings, channels)


def _alternation(words) -> str:
    """A regex alternation of the normalised `words`, longest first."""
    return "|".join(re.escape(w) for w in sorted({normalize(w) for w in words} - {""}, key=len, reverse=True))


def _choice_number(normalized: str) -> int | None:
    found = _CHOICE.match(normalized)
    if not found:
        return None
    digit = found.group(1)
    return int(digit) if digit.isdigit() else _NUMERALS[digit]


class Router:
    def __init__(self, corpus: Callable[[], Corpus], brand: Mapping[str, object],
                 prechecks: Sequence[Precheck] = (), config: Mapping | None = None):
        self._corpus = corpus
        self.brand = dict(brand)
        self.prechecks = tuple(prechecks)
        config = config or load_config()
        self.thresholds = Thresholds.from_dict(config.get("policy", {}))
        dialogue = config.get("dialogue", {})
        self.yes = frozenset(normalize(w) for w in dialogue.get("yes", ("是", "好")))
        self.correction_markers = tuple(sorted((normalize(m) for m in dialogue.get("correction_markers", ())),
                                               key=len, reverse=True))
        #: A correction marker opens its clause, after at most this many characters ("嗯，" "其实").
        self.marker_lead = int(dialogue.get("correction_marker_lead", 2))
        self.not_corrections = tuple(normalize(w) for w in dialogue.get("not_corrections", ()))
        endings, words = (_alternation(dialogue.get(k, ())) for k in ("settled_endings", "settled_words"))
        settled = [f"(?:{endings})$"] if endings else []
        settled += [f"(?:{words})"] if words else []
        self.settled = re.compile("|".join(settled)) if settled else None
        negators, affirmers = (_alternation(dialogue.get(k, ())) for k in ("negators", "affirmers"))
        # "不是X，是Y" / "我不是要X是要Y" (normalised, so the comma is gone); "是不是" is a question, not a negation
        self.negation = re.compile(f"(?<!是)(?:{negators})(?P<no>.{{1,20}}?)(?:{affirmers})(?P<yes>.{{2,}})") \
            if negators and affirmers else None
        # "不是X，Y" across clauses, with or without an affirmer: a clause that opens ("我问的", "我")
        # with a negator and a short topic, then what the user does mean in the clauses after it.
        openers = _alternation(dialogue.get("negation_openers", ()))
        self.negated_clause = re.compile(f"(?:{openers})?(?:{negators})(?P<no>.{{1,12}})") if negators else None
        self.affirmer = re.compile(f"(?:{affirmers})") if affirmers else None
        asking = _alternation(dialogue.get("question_words", ()))
        #: A clause that asks something ("怎么添加新卡", "提现一般多久到"), not one that tells the story.
        self.asks = re.compile(asking) if asking else None
        self.choice_ttl = float(dialogue.get("choice_ttl", 300))
        self.topic_ttl = float(dialogue.get("topic_ttl", 300))
        #: How long after a scam alert a contact the user checks is read as part of that scam.
        self.alert_context = float(dialogue.get("alert_context_ttl", 900))
        self.follow_up_chars = int(dialogue.get("follow_up_max_chars", 12))
        self.follow_up_weight = float(dialogue.get("follow_up_weight", 0.5))
        self.fallbacks_before_handoff = int(dialogue.get("fallbacks_before_handoff", 2))
        self.candidates_shown = int(dialogue.get("candidates_shown", 3))
        #: The corpus's ReloadingSource when built by `build_router` (its `.error` is for /healthz).
        self.source = None

    # --- small helpers ----------------------------------------------------------------------
    def answer(self, faq_id: str) -> RouteDecision:
        """The answer of one FAQ entry by id (a menu item names one); a fallback if there is none."""
        corpus = self._corpus()
        if faq_id not in corpus:
            return RouteDecision("fallback", self._say("fallback"))
        return self._faq(corpus, faq_id, 1.0, ("menu",))

    def warm_up(self) -> None:
        """Load what the model loads lazily (the sentence embedder's weights, ~0.3 s) before the first
        user whose message needs it (gunicorn calls this once per worker, config/gunicorn.conf.py)."""
        embed = getattr(self._corpus().model, "embed", None)
        if embed is not None:
            embed("你好")

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

    def _faq(self, corpus: Corpus, faq_id: str, score: float, reasons=(), candidates=(), tail: str = "",
             offered: str | None = None):
        if not candidates:
            candidates = (Candidate(faq_id, corpus.question(faq_id), score, tuple(reasons)),)
        reply = corpus.reply(faq_id) + (f"\n\n{tail}" if tail else "")
        return RouteDecision("faq", reply, faq_id=faq_id, score=score, candidates=tuple(candidates),
                             offered=offered)

    # --- routing ----------------------------------------------------------------------------
    def route(self, text: str, conversation: Conversation | None = None,
              now: float | None = None) -> tuple[RouteDecision, Conversation]:
        """The decision for `text` and the conversation state to store for the next message."""
        conversation = Conversation() if conversation is None else conversation
        now = time.time() if now is None else now
        decision = self._decide(text or "", conversation, now)
        exposed = sensitive.found(text or "")
        if exposed:   # whatever the answer, first: never share this with anyone, us included
            decision = replace(decision, reply=f"{sensitive.warning(exposed)}\n\n{decision.reply}")
        return decision, self._next_state(conversation, decision, now)

    def read(self, text: str, conversation: Conversation | None = None, now: float | None = None) -> Reading:
        """The model's reading of `text` as the router uses it (follow-ups and corrections applied)."""
        conversation = conversation or Conversation()
        return self._reading(self._corpus(), text, conversation, time.time() if now is None else now)[0]

    def nearest(self, text: str, label: str, k: int = 2) -> tuple[str, ...]:
        """The k examples of `label` closest in meaning to `text` (staff tools: why it matched)."""
        model = self._corpus().model
        if label not in model.labels or not hasattr(model, "nearest"):
            return ()
        reading = model.predict(text, embed=True)
        return tuple(t for t, _, _ in model.nearest(reading.vector, k=k, label=label))

    def _decide(self, text: str, conversation: Conversation, now: float) -> RouteDecision:
        corpus = self._corpus()
        normalized = normalize(text)
        picked = self._picked_choice(normalized, conversation, now, corpus)
        if picked is not None:
            return picked
        if normalized in self.yes:
            if conversation.offered in corpus and now - conversation.offered_at <= self.choice_ttl:
                return self._faq(corpus, conversation.offered, 1.0, ("offered",))
            if conversation.human_offered:
                return self._handoff("handoff")
        reading, corrected = self._reading(corpus, text, conversation, now) if model_text(text) else (None, None)
        for check in self.prechecks:
            decision = check(text, reading)
            if decision is not None:
                return self._after_alert(decision, conversation, now)
        if reading is None:   # nothing but punctuation or blanks: ask what they need
            return RouteDecision("fallback", self._say("empty"))
        return self._again(self._respond(corpus, corrected or text, reading, conversation), conversation, now)

    def _after_alert(self, decision: RouteDecision, conversation: Conversation, now: float) -> RouteDecision:
        """A scam and its contact told apart by a few messages are still one scam: a contact checked soon
        after an alert ("他微信号是…", "他说他工号KF1002") is the scammer's, and stays on the priority
        path; an alert soon after a contact checked came out official gets the same warning. That the
        contact is real is no comfort: staff never make the demand."""
        def soon(at: float) -> bool:
            return bool(at) and now - at <= self.alert_context

        if decision.route == "verify" and soon(conversation.alerted_at):
            reply = f"⚠️ {scam.EVEN_IF_REAL}\n\n{decision.reply}" if _names_official(decision) else decision.reply
            return replace(decision, route="scam_alert", reply=reply, priority=True)
        if (decision.route == "scam_alert" and soon(conversation.checked_official_at)
                and scam.EVEN_IF_REAL not in decision.reply):
            return replace(decision, reply=f"{decision.reply}\n\n⚠️ {scam.EVEN_IF_REAL}")
        return decision

    def _again(self, decision: RouteDecision, conversation: Conversation, now: float) -> RouteDecision:
        """The answer just given, asked for again ("还是不行", "那要多久"): the same answer, and a way on."""
        repeated = (decision.route == "faq" and decision.faq_id == conversation.topic
                    and now - conversation.topic_at <= self.topic_ttl)
        if not repeated or "「人工」" in decision.reply:
            return decision
        return replace(decision, reply=f"{decision.reply}\n\n{self._say('still_stuck')}")

    def _reading(self, corpus: Corpus, text: str, conversation: Conversation,
                 now: float) -> tuple[Reading, str | None]:
        """The reading, and the part of the message it is of when the user corrected themselves."""
        model = corpus.model
        corrected, rejected = self._after_correction(corpus, text, conversation)
        if corrected is not None:
            whole = _served(model.predict(text), corpus)
            if corpus.route_of(whole.top) == "scam_alert":
                corrected = rejected = None   # a correction never talks the bot out of a scam it read
        else:
            corrected = self._unsettled(text)
            if corrected is not None and corpus.route_of(_served(model.predict(corrected), corpus).top) == "scam_alert":
                corrected = None   # whether it is a scam is the whole message's to say, not a part's
        reading = _served(model.predict(corrected or text), corpus)
        if corrected is None and self._is_follow_up(text, reading, conversation, now, corpus):
            return _with_prior(reading, conversation.topic, self.follow_up_weight, corpus.route_of), None
        # what the user rules out: the answer just given, never again ("不是这个，我问的是…"); what a
        # negated phrase reads as, unless what follows reads as it too ("不是登录密码，是支付密码忘了")
        if rejected and reading.top == rejected and (
                rejected == conversation.topic or reading.confidence < self.thresholds.confident):
            return _without(reading, rejected), corrected
        return reading, corrected

    def _after_correction(self, corpus: Corpus, text: str,
                          conversation: Conversation) -> tuple[str | None, str | None]:
        """(what the user means, what they rule out) of a correction; (None, None) without one.

        "不是这个，我问的是Y" → (Y, the last topic); "不是X，是Y" → (Y, what X reads as).
        """
        across = self._negated_clauses(text)
        if across:
            no, yes = across
            return yes, corpus.model.predict(no, embed=False).top
        rest = self._after_marker(text)
        if rest is not None:
            return (rest if len(rest) >= 2 else None), conversation.topic
        folded = normalize(text)
        found = self.negation.search(folded) if self.negation else None
        if found:
            return found.group("yes"), corpus.model.predict(found.group("no"), embed=False).top
        return None, None

    def _unsettled(self, text: str) -> str | None:
        """The clauses of a message that are not context: "卡绑好了，提现也点了，钱就是不进卡" asks about
        the withdrawal, "号没被盗，啥也没丢，就想问问助记词放哪" about the seed phrase. A clause that
        says something is done or fine (`settled_endings`), or did not happen (`settled_words`), is
        left out; None when nothing is, or everything would be."""
        if self.settled is None:
            return None
        parts = clauses(text)
        kept = [part for part in parts if not self.settled.search(part)]
        return "".join(kept) if kept and len(kept) < len(parts) else None

    def _after_marker(self, text: str) -> str | None:
        """What follows the last correction marker that opens a clause ("嗯，不是这个，我问的是Y" → Y);
        None without one. A marker inside a clause is a word of the story, not a correction
        ("听着不对劲", "收款人不对"), and so is a longer word it begins (`not_corrections`)."""
        parts = clauses(text)
        for i in range(len(parts) - 1, -1, -1):
            part = parts[i]
            for marker in self.correction_markers:
                at = part.find(marker, 0, self.marker_lead + len(marker))
                if at < 0 or part.startswith(self.not_corrections, at):
                    continue
                return part[at + len(marker):] + "".join(parts[i + 1:])
        return None

    def _negated_clauses(self, text: str) -> tuple[str, str] | None:
        """(X, Y) of "不是X，(是)Y" written as clauses; None when no clause rules a topic out.

        Not a negation: a clause that is itself a correction marker ("不是这个", read against the
        last topic instead), a rhetorical question ("不是说好三天到账吗"), or "not me"
        ("不是我本人操作的": a statement about what happened, not a topic ruled out).
        """
        if self.negated_clause is None:
            return None
        parts = clauses(text)
        for i, part in enumerate(parts[:-1]):
            found = self.negated_clause.fullmatch(part)
            if not found:
                continue
            no = found.group("no")
            if part in self.correction_markers or no[-1] in "吗嘛呢吧" or no.startswith(("我", "本人", "自己")):
                return None
            yes = "".join(parts[i + 1:])
            opening = self.affirmer.match(yes) if self.affirmer else None
            yes = yes[opening.end():] if opening else yes
            return (no, yes) if len(yes) >= 2 else None
        return None

    def _is_follow_up(self, text: str, reading: Reading, conversation: Conversation, now: float,
                      corpus: Corpus) -> bool:
        """Soon after an answer: a follow-up ("那要多久", "还是不行"), or a short message naming no topic clearly."""
        if not conversation.topic or conversation.topic not in corpus or now - conversation.topic_at > self.topic_ttl:
            return False
        route = corpus.route_of(reading.top)
        if route == "follow_up":
            return True
        if len(model_text(text)) > self.follow_up_chars:
            return False
        # short and about the topic, or naming nothing the model is sure of ("一般多久能到", "SOL呢",
        # "那提现呢" after fees): read against the topic; a sure new question or a greeting is not
        return reading.top == conversation.topic or (
            route in ("faq", "fallback") and reading.confidence < self.thresholds.confident)

    def _picked_choice(self, normalized: str, conversation: Conversation, now: float,
                       corpus: Corpus) -> RouteDecision | None:
        choices = conversation.pending_choices
        if not choices or now - conversation.choices_at > self.choice_ttl:
            return None
        number = _choice_number(normalized)
        if number is None:
            return None
        if not all(c in corpus for c in choices):
            return None  # an entry went away after the list was shown: its numbers no longer hold
        if number > len(choices):
            head = self._say("choice_out_of_range", count=len(choices))
            return self._clarify(corpus, choices, (), head)
        return self._faq(corpus, choices[number - 1], 1.0, (f"choice:{number}",))

    def _clarify(self, corpus: Corpus, choices: Sequence[str], candidates: Sequence[Candidate],
                 head: str | None = None) -> RouteDecision:
        lines = [head or self._say("clarify_head")]
        lines += [f"{n}. {corpus.question(faq_id)}" for n, faq_id in enumerate(choices, 1)]
        lines.append(self._say("clarify_tail"))
        score = candidates[0].score if candidates else 0.0
        return RouteDecision("clarify", "\n".join(lines), score=score,
                             candidates=tuple(candidates), choices=tuple(choices))

    def _candidates(self, corpus: Corpus, reading: Reading) -> tuple[Candidate, ...]:
        how = ("fused",) if reading.embedded else ("fast",)
        ranked = reading.ranked(keep=lambda label: label in corpus, limit=self.candidates_shown)
        return tuple(Candidate(label, corpus.question(label), round(p, 4), how) for label, p in ranked)

    def _respond(self, corpus: Corpus, text: str, reading: Reading, conversation: Conversation) -> RouteDecision:
        outcome = choose(reading, corpus.route_of, self.thresholds)
        shown = self._candidates(corpus, reading)
        if outcome.kind == "route":
            route = corpus.route_of(outcome.label)
            if route == "handoff":
                return self._handoff("handoff", shown)
            if route == "greeting":
                reply = corpus.intent_reply(outcome.label) or self._say("hello")
                return RouteDecision("greeting", reply, score=outcome.confidence, candidates=shown)
            if route == "follow_up":    # nothing was asked before it: ask for the whole question
                return self._fallback(conversation, shown)
            if route == "verify" and corpus.answered_with(outcome.label):   # a check naming no contact
                return self._faq(corpus, corpus.answered_with(outcome.label), outcome.confidence, candidates=shown)
            if route == "scam_alert":   # no precheck configured (tests, tools): still never a menu
                return RouteDecision("scam_alert", corpus.intent_reply(outcome.label) or self._say("fallback"),
                                     score=outcome.confidence, candidates=shown, priority=True)
        if outcome.kind in ("answer", "answer_offer", "menu"):
            second = self._second_question(corpus, text, outcome)
            if second:
                first, other = second
                tail = self._say("offer_second", question=corpus.question(other))
                return self._faq(corpus, first, outcome.confidence, candidates=shown, tail=tail, offered=other)
        if outcome.kind == "answer":
            return self._faq(corpus, outcome.label, outcome.confidence, candidates=shown)
        if outcome.kind == "answer_offer":
            hedged = (replace(shown[0], reasons=(*shown[0].reasons, "hedged")), *shown[1:]) if shown else ()
            return self._faq(corpus, outcome.label, outcome.confidence, candidates=hedged,
                             tail=self._say("offer_other"))
        if outcome.kind == "menu":
            return self._clarify(corpus, outcome.choices, shown)
        passing = self._said_in_passing(corpus, text)
        if passing and corpus.route_of(passing) == "handoff":
            return self._handoff("handoff", shown)
        if passing:
            return RouteDecision("greeting", corpus.intent_reply(passing) or self._say("hello"),
                                 score=outcome.confidence, candidates=shown)
        return self._fallback(conversation, shown, outcome.confidence)

    def _fallback(self, conversation: Conversation, shown, score: float = 0.0) -> RouteDecision:
        if conversation.fallbacks_in_row + 1 >= self.fallbacks_before_handoff:
            return self._handoff("handoff_after_fallbacks", shown, unmatched=True)
        return RouteDecision("fallback", self._say("fallback"), score=score, candidates=shown, unmatched=True)

    def _clause_labels(self, corpus: Corpus, text: str, floor: float | None = None) -> list[str]:
        """The labels the fast classifier is sure of, clause by clause, in order of first appearance:
        at least `confident`; or, given a lower `floor`, of the clauses that ask something."""
        parts = [c for c in clauses(text, at_emoji=False) if len(c) >= 2]
        if len(parts) < 2:
            return []
        if floor is not None:
            parts = [c for c in parts if self.asks and self.asks.search(c)]
        floor = self.thresholds.confident if floor is None else floor
        found: list[str] = []
        for part in parts[:6]:
            reading = corpus.model.predict(part, embed=False)
            if reading.confidence >= floor and reading.top not in found:
                found.append(reading.top)
        return found

    def _second_question(self, corpus: Corpus, text: str, outcome) -> tuple[str, str] | None:
        """(first, second) FAQ ids when the message asks two questions in separate clauses, in their order.
        A menu of two entries that two asking clauses each read as, plausibly, is such a message too
        ("怎么添加新卡？顺便问下提现一般多久到"); a clause that tells the story does not count."""
        found = [label for label in self._clause_labels(corpus, text) if corpus.route_of(label) == "faq"]
        if len(found) < 2 and outcome.kind == "menu":
            found = [label for label in self._clause_labels(corpus, text, self.thresholds.plausible)
                     if label in outcome.choices]
        if len(found) < 2:
            return None
        if outcome.kind != "menu" and outcome.label not in found:
            return None
        return found[0], found[1]

    def _said_in_passing(self, corpus: Corpus, text: str) -> str | None:
        """A request for a person, or a bare greeting, in one clause of a message nothing else answers."""
        labels = self._clause_labels(corpus, text)
        if any(corpus.route_of(label) == "faq" for label in labels):
            return None
        for route in ("handoff", "greeting"):
            for label in labels:
                if corpus.route_of(label) == route:
                    return label
        return None

    @staticmethod
    def _next_state(conversation: Conversation, decision: RouteDecision, now: float) -> Conversation:
        state = dict(pending_choices=(), choices_at=0.0, fallbacks_in_row=0, human_offered=False,
                     offered=decision.offered, offered_at=now if decision.offered else 0.0)
        if decision.route == "clarify":
            state.update(pending_choices=decision.choices, choices_at=now)
        elif decision.route == "fallback":
            state.update(fallbacks_in_row=conversation.fallbacks_in_row + 1, human_offered=True)
        elif decision.route == "faq":
            state.update(topic=decision.faq_id, topic_at=now)
        elif decision.route == "scam_alert":
            state.update(alerted_at=now)
        elif decision.route == "verify" and _names_official(decision):
            state.update(checked_official_at=now)
        return replace(conversation, **state)


def _names_official(decision: RouteDecision) -> bool:
    return any(v.get("status") == "official" for v in decision.verdicts)


def _with_prior(reading: Reading, topic: str, weight: float, route_of) -> Reading:
    """The reading of a follow-up: what the follow-up intents hold goes to the last topic, and the
    rest is mixed with certainty about it: (1-w)·p + w·[label == topic]."""
    probs = {l: (1 - weight) * p for l, p in zip(reading.labels, reading.probs) if route_of(l) != "follow_up"}
    asked_after = sum(p for l, p in zip(reading.labels, reading.probs) if route_of(l) == "follow_up")
    probs[topic] = probs.get(topic, 0.0) + weight + (1 - weight) * asked_after
    return _reading_of(probs, reading)


def _without(reading: Reading, label: str) -> Reading:
    """The reading with one label ruled out (a correction rejects the last answer)."""
    probs = {l: p for l, p in zip(reading.labels, reading.probs) if l != label}
    total = sum(probs.values()) or 1.0
    return _reading_of({l: p / total for l, p in probs.items()}, reading)


def _served(reading: Reading, corpus: Corpus) -> Reading:
    """The reading without the labels of disabled entries (the model still knows them)."""
    if all(corpus.serves(label) for label in reading.labels):
        return reading
    probs = {l: p for l, p in zip(reading.labels, reading.probs) if corpus.serves(l)}
    total = sum(probs.values()) or 1.0
    return _reading_of({l: p / total for l, p in probs.items()}, reading)


def _reading_of(probs: dict, like: Reading) -> Reading:
    ordered = sorted(probs.items(), key=lambda kv: -kv[1])
    return Reading(tuple(l for l, _ in ordered), tuple(p for _, p in ordered), like.embedded, like.vector)


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
