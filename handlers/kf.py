"""Customer-service session events: recorded as the user's agent-session state.

WeChat sends these when an agent accepts (create), ends (close) or passes on
(switch) a conversation. The state lives in Redis with WeChat's own 30-minute
silence timeout, so the bot knows to step aside while a person is talking.
"""
from __future__ import annotations

import logging

from bot.masking import mask_openid
from handlers import Context, on_event
from handlers.handoff import after_session

log = logging.getLogger(__name__)


@on_event("kf_create_session")
def session_created(message, ctx: Context):
    svc, account = ctx.services, message.account or ""
    waited = svc.best_effort(lambda: svc.storage.session_started(message.source, account), None)
    log.info("agent %s took %s (waited %ss)", account, mask_openid(message.source), waited)
    ctx.notes.update(route="kf_session", agent=account, waited=waited)
    return None


@on_event("kf_switch_session")
def session_switched(message, ctx: Context):
    svc, account = ctx.services, message.to_account or ""
    svc.best_effort(lambda: svc.storage.set_kf_session(message.source, "active", account), None)
    log.info("%s passed from %s to %s", mask_openid(message.source), message.from_account, account)
    ctx.notes["route"] = "kf_session"
    return None


@on_event("kf_close_session")
def session_closed(message, ctx: Context):
    svc, account = ctx.services, message.account or ""
    session = svc.best_effort(lambda: svc.storage.session_ended(message.source), None) or {}
    log.info("agent %s closed the session with %s", account, mask_openid(message.source))
    after_session(message.source, account, session.get("since", ""), ctx)
    ctx.notes["route"] = "kf_session"
    return None
