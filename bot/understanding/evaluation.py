"""Score a router on labelled messages: by route, by style, confusions, confident-wrong, out-of-scope.

A labelled row is a JSON object with `text`, `route` and, for FAQ rows,
`faq_id` (the files under tests/data/holdout/ and tests/data/dev/, or any file
staff keep from real traffic; `python -m bot faq eval FILE`). A row is right
when the decision's route is the expected one and, for FAQ rows, so is the
FAQ id. The costly mistake, *confident-wrong*, is an FAQ answer sent for a
message that wanted something else.

Plain Python: the router is anything with `route(text) -> (decision, state)`.
"""
from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from bot.channels import phone_key


def read_rows(path: str | Path) -> list[dict]:
    """The rows of a JSON-lines file (blank lines skipped)."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


GREETINGS = ("hello", "thanks", "bye", "ack")


def model_label(row: dict) -> str | None:
    """The model intent a labelled row stands for (None: a row no intent stands for)."""
    if row.get("label") in ("scam", "victim"):
        return row["label"]
    route = row.get("route")
    if route == "faq":
        return row.get("faq_id")
    if route == "greeting":
        return row.get("greeting") if row.get("greeting") in GREETINGS else None
    return {"handoff": "handoff", "fallback": "out_of_scope", "scam_alert": "scam",
            "verify": "contact_check"}.get(route)


def labelled_texts(paths, labels) -> tuple[list[str], list[str]]:
    """(texts, model labels) of the rows in `paths` whose label the model knows."""
    texts, out = [], []
    for path in paths:
        for row in read_rows(path):
            label = model_label(row)
            if label in labels:
                texts.append(row["text"])
                out.append(label)
    return texts, out


def expected(row: dict) -> str:
    return row["faq_id"] if row.get("route") == "faq" else row["route"]


def predicted(decision) -> str:
    return decision.faq_id if decision.route == "faq" else decision.route


@dataclass
class Report:
    total: int = 0
    correct: int = 0
    confident_wrong: int = 0
    #: wrong answers sent with the "不是这个？换个说法或回复「人工」" line (one plausible candidate)
    hedged_wrong: int = 0
    out_of_scope: int = 0
    out_of_scope_rejected: int = 0
    embedded: int = 0
    seconds: float = 0.0
    by_route: dict = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    by_style: dict = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    confusions: Counter = field(default_factory=Counter)
    misses: list = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    @property
    def confident_wrong_rate(self) -> float:
        return self.confident_wrong / self.total if self.total else 0.0

    @property
    def out_of_scope_rate(self) -> float:
        return self.out_of_scope_rejected / self.out_of_scope if self.out_of_scope else 1.0

    def style_accuracy(self, style: str) -> float:
        right, n = self.by_style[style]
        return right / n if n else 0.0

    def lines(self, top_confusions: int = 12) -> list[str]:
        out = [f"route+FAQ accuracy {self.accuracy:.3f} ({self.correct}/{self.total})   "
               f"confident-wrong {self.confident_wrong_rate:.3f} ({self.confident_wrong}; "
               f"+{self.hedged_wrong} wrong with the offer line)   "
               f"out-of-scope rejected {self.out_of_scope_rate:.3f} ({self.out_of_scope_rejected}/{self.out_of_scope})",
               f"embedding computed for {self.embedded}/{self.total} messages; "
               f"{1000 * self.seconds / max(1, self.total):.1f} ms per message on average", "", "by route:"]
        out += [f"  {name:<12} {right / n:.3f}  ({right}/{n})" for name, (right, n) in sorted(self.by_route.items())]
        if self.by_style:
            out += ["", "by style:"]
            out += [f"  {name:<20} {right / n:.3f}  ({right}/{n})"
                    for name, (right, n) in sorted(self.by_style.items())]
        if self.confusions:
            out += ["", "top confusions (expected → got):"]
            out += [f"  {n:>3}  {want} → {got}" for (want, got), n in self.confusions.most_common(top_confusions)]
        return out


#: Seconds between two turns of one conversation in a labelled file, unless a row says (`after`).
TURN_GAP = 20.0


def evaluate(router, rows: Iterable[dict]) -> Report:
    """Route every row and count what came out. A row is a fresh conversation, unless it names a
    `user`: then it is that user's next turn, `after` seconds (20 by default) after their last, read
    with the conversation so far (follow-ups, corrections, choices, offers), as the endpoint does."""
    report = Report()
    start = time.time()
    conversations: dict[str, tuple[object, float]] = {}
    for row in rows:
        user = row.get("user")
        state, last = conversations.get(user, (None, start)) if user is not None else (None, start)
        now = last + float(row.get("after", TURN_GAP))
        started = time.perf_counter()
        decision, state = router.route(row["text"], state, now=now)
        report.seconds += time.perf_counter() - started
        if user is not None:
            conversations[user] = (state, now)
        want, got = expected(row), predicted(decision)
        right = want == got
        report.total += 1
        report.correct += right
        if decision.candidates and "fused" in decision.candidates[0].reasons:
            report.embedded += 1
        report.by_route[row["route"]][0] += right
        report.by_route[row["route"]][1] += 1
        if row.get("style"):
            report.by_style[row["style"]][0] += right
            report.by_style[row["style"]][1] += 1
        if row["route"] == "fallback":
            report.out_of_scope += 1
            report.out_of_scope_rejected += decision.route in ("fallback", "handoff")
        if not right:
            if decision.route == "faq" and decision.candidates and "hedged" in decision.candidates[0].reasons:
                report.hedged_wrong += 1
            elif decision.route == "faq":
                report.confident_wrong += 1
            report.confusions[(want, got)] += 1
            report.misses.append((row["text"], want, got))
    return report


@dataclass
class SafetyReport:
    """Scam recall/precision, verification verdicts and menus on a labelled safety set."""
    total: int = 0
    scam_tp: int = 0
    scam_fp: int = 0
    scam_fn: int = 0
    verdicts: int = 0
    verdicts_right: int = 0
    lookalikes: int = 0
    lookalikes_named: int = 0
    menus: int = 0
    route_right: int = 0
    misses: list = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.scam_tp / (self.scam_tp + self.scam_fn) if self.scam_tp + self.scam_fn else 1.0

    @property
    def precision(self) -> float:
        return self.scam_tp / (self.scam_tp + self.scam_fp) if self.scam_tp + self.scam_fp else 1.0

    def lines(self) -> list[str]:
        return [f"scam alert: recall {self.recall:.3f}  precision {self.precision:.3f}  "
                f"(tp {self.scam_tp}, fp {self.scam_fp}, fn {self.scam_fn}; n={self.total})",
                f"verdicts right {self.verdicts_right}/{self.verdicts}; lookalikes named "
                f"{self.lookalikes_named}/{self.lookalikes}; scam or verification rows given a menu: {self.menus}",
                f"route right {self.route_right}/{self.total}"]


def _verdict_right(want: dict, got: list[dict]) -> tuple[bool, bool]:
    """(status right, lookalike named) for one expected verdict among the decision's verdicts."""
    def key(identifier: str) -> str:   # a handle is the same with or without its "@", a number with its dashes
        return phone_key(identifier) if want["kind"] == "phone" else identifier.lower().lstrip("@")

    same = [v for v in got if key(v["identifier"]) == key(want["identifier"])]
    status = any(v["status"] == want["status"] for v in same)
    named = any(key(v.get("lookalike_of") or "") == key(want["lookalike_of"] or "") for v in same)
    return status, named


def evaluate_safety(router, rows: Iterable[dict]) -> SafetyReport:
    report = SafetyReport()
    for row in rows:
        decision, _ = router.route(row["text"])
        report.total += 1
        is_scam = row.get("label") in ("scam", "victim")
        fired = decision.route == "scam_alert"
        report.scam_tp += fired and is_scam
        report.scam_fp += fired and not is_scam
        report.scam_fn += is_scam and not fired
        report.route_right += expected(row) == predicted(decision)
        if (is_scam or row.get("label") == "verify") and decision.route == "clarify":
            report.menus += 1
        for want in row.get("verdicts", ()):
            status, named = _verdict_right(want, list(decision.verdicts))
            report.verdicts += 1
            report.verdicts_right += status
            if want.get("lookalike_of"):
                report.lookalikes += 1
                report.lookalikes_named += named
            if not status:
                report.misses.append((row["text"], f"verdict {want['identifier']}={want['status']}",
                                      [f"{v['identifier']}={v['status']}" for v in decision.verdicts]))
        if fired != is_scam:
            report.misses.append((row["text"], row.get("label"), decision.route))
    return report
