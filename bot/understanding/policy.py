"""How sure the model is decides the reply (plain Python, thresholds from config/understanding.json).

`choose(reading, route_of, thresholds)` turns the model's reading of one message into an `Outcome`:

* a non-FAQ intent on top (handoff, a greeting, out-of-scope) at least `route_floor` sure, or (a handoff
  or a greeting) at least `plausible` and three times as likely as any FAQ entry → that route;
* FAQ, the top entry at least `confident` sure → the answer;
* one plausible entry (`plausible` ≤ p, and no runner-up above `menu_floor`) → that answer, with one line
  offering another wording or a person ("不是这个？换个说法或回复「人工」"); never a one-item menu;
* two or three entries above `menu_floor` and close → a numbered menu;
* nothing → the fallback.

The thresholds are calibration: tools/calibrate.py measures them on the dev set.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from bot.understanding.model import Reading


#: Routes that are safe to take when merely plausible: a person, or a greeting back. A contact check
#: with no contact, a follow-up with nothing before it or out-of-scope still need route_floor.
PLAIN_ROUTES = frozenset({"handoff", "greeting"})


@dataclass(frozen=True)
class Thresholds:
    confident: float = 0.6
    plausible: float = 0.35
    menu_floor: float = 0.15
    menu_max: int = 3
    route_floor: float = 0.4

    @classmethod
    def from_dict(cls, data: dict) -> "Thresholds":
        fields = cls.__dataclass_fields__
        return cls(**{k: type(getattr(cls, k))(v) for k, v in data.items() if k in fields})


@dataclass(frozen=True)
class Outcome:
    #: answer | answer_offer | menu | route | fallback
    kind: str
    #: the label answered or routed to (answer, answer_offer, route)
    label: str | None = None
    #: FAQ ids of a menu, best first
    choices: tuple[str, ...] = ()
    confidence: float = 0.0


def choose(reading: Reading, route_of: Callable[[str], str], t: Thresholds) -> Outcome:
    top, p = reading.top, reading.confidence
    if route_of(top) != "faq" and p >= t.route_floor:
        return Outcome("route", top, confidence=p)
    faqs = reading.ranked(keep=lambda label: route_of(label) == "faq", limit=t.menu_max)
    if not faqs:
        return Outcome("fallback", confidence=p)
    (best, pb), rest = faqs[0], faqs[1:]
    if route_of(top) in PLAIN_ROUTES and p >= t.plausible and p >= 3 * pb:
        return Outcome("route", top, confidence=p)   # plausible, and far ahead of every answer
    runner_up = rest[0][1] if rest else 0.0
    if pb >= t.confident and pb >= 2 * runner_up:
        return Outcome("answer", best, confidence=pb)
    close = [label for label, q in faqs if q >= t.menu_floor and q >= pb / 3]
    if pb >= t.plausible and len(close) == 1:
        return Outcome("answer_offer", best, confidence=pb)
    if len(close) >= 2:
        return Outcome("menu", choices=tuple(close), confidence=pb)
    if pb >= t.plausible:
        return Outcome("answer_offer", best, confidence=pb)
    return Outcome("fallback", confidence=pb)
