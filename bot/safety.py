"""The safety prechecks the router runs on every reading: scam or victim alert, then verification.

`make_prechecks(settings)` returns `[scam_check, verify_check]`, each a
callable `(text, reading) -> RouteDecision | None` (the first non-None wins in
the router; `reading` is the intent model's `Reading`, or None for a message
with no words).

* **scam_check** fires when the model reads a scam in progress or a victim
  (the `scam` and `victim` intents, learnt from faq_data/scam_examples.json,
  whose features include the rule signals of `bot.scam`), or when the message
  names an official-looking contact *and* a demand staff never make (a code, a
  password, a transfer, screen sharing…): even a real number asking for that is
  a scam, and the alert says so next to the verification result. A victim
  (money or a code already gone) gets the after-the-fact steps instead.
* **verify_check** answers whether the contacts in the message are official.

Both read the hot-reloaded registry of official channels
(`bot.channels.registry_source`); detection lives in `bot.scam` and
`bot.verifier`, thresholds in config/understanding.json. Plain Python: no
Flask, no Redis (the handler records verifications through `Storage`).
"""
from __future__ import annotations

from typing import Callable, Mapping

from bot import scam, verifier
from bot.channels import Registry, registry_source
from bot.decision import RouteDecision
from bot.reloader import ReloadingSource
from bot.understanding import load_config

Precheck = Callable[[str, object], "RouteDecision | None"]

#: At most this many verdict lines are added to a scam alert (the alert must stay short).
ALERT_VERDICT_LINES = 2
SCAM_LABELS = ("scam", "victim")
#: The model's intent for "is this contact yours?" with nothing asked of the user (faq_data/intents.json).
CHECK_LABEL = "contact_check"


class SafetyChecks:
    """The two prechecks over one registry source (a `ReloadingSource` or anything with `.get()`)."""

    def __init__(self, source: ReloadingSource[Registry], config: Mapping | None = None):
        self.source = source
        safety = (config or load_config()).get("safety", {})
        self.threshold = float(safety.get("scam", 0.5))
        #: Above this the alert wins even over a plain question about a contact ("QQ… 说是客服，真的吗").
        self.certain = float(safety.get("scam_over_verify", 0.9))
        self.forbidden = frozenset(safety.get("forbidden_demands", ()))
        self.weights = {signal.name: signal.weight for signal in scam.SIGNALS}

    def scam_check(self, text: str, reading=None) -> RouteDecision | None:
        """route scam_alert (priority) for a scam in progress or a victim; None otherwise.

        A question about a named contact with no forbidden demand is left to `verify_check`: its
        reply already says whether the contact is real and what to do if it is not.
        """
        result = scam.detect(text)
        registry = self.source.get()
        identifiers = verifier.with_named_accounts(verifier.extract(text), text, registry, asked=False)
        demanded = [name for name in result.signals if name in self.forbidden]
        hedged = result.groups.get("hedge", 0.0) < 0
        # A weak demand (a word for paying) needs someone asking: "pay.wallet.example.com 付款的时候跳到
        # 这个页面" names a payment, not a demand; "打开链接填写验证码" asks by itself.
        asked = (result.groups.get("actor", 0.0) > 0 or result.groups.get("request", 0.0) > 0
                 or any(self.weights[name] >= scam.MIN_DEMAND for name in demanded))
        named_and_demanded = bool(identifiers and demanded and asked and not hedged)
        if reading is None:
            fires, victim = result.is_scam or named_and_demanded, False
        else:
            likelihood = sum(reading.prob(label) for label in SCAM_LABELS)
            victim = reading.prob("victim") > reading.prob("scam") and likelihood >= self.threshold
            # anything asked of the user, a lure included, unless said not to be ("没有让我提供密码")
            pushed = result.groups.get("demand", 0.0) > 0 and not hedged
            asks_to_verify = bool(identifiers) and not pushed and bool(verifier.check(text, registry))
            # A question about a named contact is the verifier's, unless the model rates a scam above a
            # plain check of that contact (the contact_check intent) and reads a victim or is all but sure.
            overrides = likelihood > reading.prob(CHECK_LABEL) and (victim or likelihood >= self.certain)
            fires = named_and_demanded or (likelihood >= self.threshold and (overrides or not asks_to_verify))
        given = scam.SECRET_GIVEN in result.signals
        if not fires and not given:
            return None              # the common case: no contact judged for nothing
        verdicts = [verifier.judge(i, registry) for i in identifiers]
        if given and any(v.status != "official" for v in verdicts):
            fires = victim = True   # a secret already typed into a page or given to a contact not ours
        if not fires:
            return None
        lines = [verifier.verdict_line(v, registry) for v in verdicts[:ALERT_VERDICT_LINES]]
        if demanded and any(v.status == "official" for v in verdicts):
            lines.append(scam.EVEN_IF_REAL)
        reply = (scam.victim_text(registry.brand, tuple(lines)) if victim
                 else scam.alert_text(result, registry.brand, tuple(lines)))
        score = sum(reading.prob(label) for label in SCAM_LABELS) if reading is not None else result.score
        return RouteDecision("scam_alert", reply, score=round(max(score, float(named_and_demanded)), 4),
                             verdicts=tuple(v.as_dict() for v in verdicts), priority=True)

    def verify_check(self, text: str, reading=None) -> RouteDecision | None:
        """route verify when the message asks whether a contact is official; None otherwise."""
        registry = self.source.get()
        verdicts = verifier.check(text, registry)
        if not verdicts:
            return None
        return RouteDecision(
            "verify",
            verifier.reply_text(verdicts, registry),
            score=1.0,
            verdicts=tuple(v.as_dict() for v in verdicts),
        )

    def prechecks(self) -> list[Precheck]:
        return [self.scam_check, self.verify_check]


def make_prechecks(settings, channels: ReloadingSource[Registry] | None = None) -> list[Precheck]:
    """[scam_check, verify_check] over `channels`, by default the registry named by these settings (hot-reloaded)."""
    return SafetyChecks(channels or registry_source(settings)).prechecks()
