"""The safety prechecks the router runs before anything else: scam alert, then verification.

`make_prechecks(settings)` returns `[scam_check, verify_check]`, each a
callable `text -> RouteDecision | None` (the first non-None wins in the
router). Both read the hot-reloaded registry of official channels
(`bot.channels.registry_source`); the detection itself lives in `bot.scam`
and `bot.verifier`. Plain Python: no Flask, no Redis (the handler records
verifications through `Storage.record_verification`).
"""
from __future__ import annotations

from typing import Callable

from bot import scam, verifier
from bot.channels import Registry, registry_source
from bot.decision import RouteDecision
from bot.reloader import ReloadingSource

Precheck = Callable[[str], "RouteDecision | None"]

#: At most this many verdict lines are added to a scam alert (the alert must stay short).
ALERT_VERDICT_LINES = 2


class SafetyChecks:
    """The two prechecks over one registry source (a `ReloadingSource` or anything with `.get()`)."""

    def __init__(self, source: ReloadingSource[Registry]):
        self.source = source

    def scam_check(self, text: str) -> RouteDecision | None:
        """route scam_alert (priority) when someone is pushing the user toward money or secrets."""
        result = scam.detect(text)
        if not result.is_scam:
            return None
        registry = self.source.get()
        verdicts = [verifier.judge(i, registry) for i in verifier.extract(text)]
        lines = tuple(verifier.verdict_line(v, registry) for v in verdicts[:ALERT_VERDICT_LINES])
        return RouteDecision(
            "scam_alert",
            scam.alert_text(result, registry.brand, lines),
            score=result.score,
            verdicts=tuple(v.as_dict() for v in verdicts),
            priority=True,
        )

    def verify_check(self, text: str) -> RouteDecision | None:
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
