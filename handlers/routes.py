"""One handler per route: turn a RouteDecision into a reply and its side effects.

A route handler gets the decision, the user, the text, the Context and the
user's agent session (None when a person is not involved).

While the user waits for or talks with an agent, the bot steps aside: the
message is transferred to customer service, except a scam alert, which is
always answered at once.
"""
from __future__ import annotations

import logging

from bot.decision import RouteDecision
from bot.masking import mask_openid, mask_text
from bot.replies import Text, Transfer
from handlers import Context
from handlers.handoff import priority_handoff, start_handoff

log = logging.getLogger(__name__)

_ROUTES: dict = {}

def on_route(name: str):
    def register(fn):
        _ROUTES[name] = fn
        return fn
    return register


_UNKNOWN = object()


def answer_decision(decision: RouteDecision, openid: str, text: str, ctx: Context, session=_UNKNOWN):
    """The reply to a routed message; `session` is the user's agent session if already read."""
    ctx.notes["route"] = decision.route
    svc = ctx.services
    if decision.unmatched:
        masked = mask_text(text.strip()[:200])
        ctx.write(lambda pipe: svc.storage.count_unmatched(masked, pipe))
    if session is _UNKNOWN:
        session = svc.best_effort(lambda: svc.storage.get_kf_session(openid), None)
    if session and decision.route != "scam_alert":
        ctx.notes["route"] = "with_agent"
        ctx.write(lambda pipe: svc.storage.touch_kf_session(openid, pipe=pipe))
        return Transfer(session.get("account") or None)
    handler = _ROUTES.get(decision.route, _plain)
    return handler(decision, openid, text, ctx, session)


def _plain(decision: RouteDecision, openid: str, text: str, ctx: Context, session):
    return Text(decision.reply)


for _name in ("faq", "clarify", "greeting", "fallback"):
    on_route(_name)(_plain)


@on_route("verify")
def verify(decision: RouteDecision, openid: str, text: str, ctx: Context, session):
    _record_verdicts(decision, openid, ctx)
    return Text(decision.reply)


def _record_verdicts(decision: RouteDecision, openid: str, ctx: Context) -> None:
    storage = ctx.services.storage
    for v in decision.verdicts:
        ctx.write(lambda pipe, v=v: storage.record_verification(
            openid, v["identifier"], v["kind"], v["status"], v.get("lookalike_of"), pipe))


@on_route("scam_alert")
def scam_alert(decision: RouteDecision, openid: str, text: str, ctx: Context, session):
    """Warn at once; a person takes over first (or a priority ticket), unless one already has."""
    storage = ctx.services.storage
    ctx.write(lambda pipe: storage.mark_priority(openid, "scam_alert", pipe=pipe))
    _record_verdicts(decision, openid, ctx)
    log.warning("scam in progress reported by %s", mask_openid(openid))
    line = "" if session else priority_handoff(openid, text, ctx)
    return Text(decision.reply + (f"\n\n{line}" if line else ""))


@on_route("handoff")
def handoff(decision: RouteDecision, openid: str, text: str, ctx: Context, session):
    return start_handoff(openid, ctx)
