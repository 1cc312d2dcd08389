"""The route decision: what the router concluded about one user message.

Data in, data out: a parsed message goes to the router, the router returns a
`RouteDecision`, and a handler turns the decision into a WeChat reply. Nothing
here touches Flask, Redis or WeChat.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

#: Every route the router may return.
ROUTES = (
    "faq",          # a confident FAQ match: reply is the answer
    "clarify",      # a close call: reply is a numbered list, `choices` holds the FAQ ids
    "verify",       # the user asks whether a contact is official: `verdicts`
    "scam_alert",   # a scam in progress: urgent warning, `priority` is set
    "handoff",      # the user wants a person
    "greeting",     # hello / thanks / bye
    "fallback",     # nothing matched
)


@dataclass(frozen=True)
class Candidate:
    faq_id: str
    question: str
    score: float
    #: Why it scored: e.g. ["fast"] (the character/pinyin classifier alone) or ["fused"] (with embeddings)
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class RouteDecision:
    route: str
    reply: str
    faq_id: str | None = None
    score: float = 0.0
    candidates: tuple[Candidate, ...] = ()
    #: FAQ ids offered by a clarification, in the order they were numbered.
    choices: tuple[str, ...] = ()
    #: Verification verdicts (route verify): dicts with identifier, kind, status, lookalike_of.
    verdicts: tuple[dict, ...] = ()
    #: A human should look at this conversation first (scam in progress).
    priority: bool = False
    #: No FAQ answers this message (a fallback, or the handoff after fallbacks): staff should see it.
    unmatched: bool = False
    #: A second question of the message, offered after the answer ("回复「是」"); not in `to_json`.
    offered: str | None = None

    def __post_init__(self):
        if self.route not in ROUTES:
            raise ValueError(f"unknown route {self.route!r}")

    def to_json(self) -> dict:
        """The stable shape printed by `python -m bot route`."""
        data = asdict(self)
        data.pop("offered")
        data["candidates"] = [asdict(c) for c in self.candidates]
        data["choices"] = list(self.choices)
        data["verdicts"] = [dict(v) for v in self.verdicts]
        for c in data["candidates"]:
            c["reasons"] = list(c["reasons"])
        return data


@dataclass
class Conversation:
    """Per-user dialogue state the router reads and updates (stored by bot.storage)."""
    #: FAQ ids of the last clarification, so that "2" picks the second one.
    pending_choices: tuple[str, ...] = ()
    #: Unix time the clarification was offered (choices expire after a few minutes).
    choices_at: float = 0.0
    #: Fallbacks in a row (two in a row offer / trigger a human).
    fallbacks_in_row: int = 0
    #: The last reply offered a human ("回复1转人工").
    human_offered: bool = False
    #: The FAQ entry last answered and when: follow-ups ("那要多久") are read against it for a few minutes.
    topic: str | None = None
    topic_at: float = 0.0
    #: A second question found in the last message, offered after the answer to the first ("回复「是」").
    offered: str | None = None
    offered_at: float = 0.0
    #: When the bot last sent a scam alert: a screenshot soon after is evidence for the priority agent.
    alerted_at: float = 0.0
    #: When the user last checked a contact that is official: a demand soon after borrows that contact.
    checked_official_at: float = 0.0
    extra: dict = field(default_factory=dict)
