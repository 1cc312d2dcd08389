"""Customer-service session events: recorded as the user's agent-session state.

WeChat sends these when an agent accepts (create), ends (close) or passes on
(switch) a conversation. The state lives in Redis with WeChat's own 30-minute
silence timeout, so the bot knows to step aside while a person is talking.
An accepted session gets a silent-agent check (bot.rescue); the close of a
session the bot ended (a silent agent) or moved to another agent asks for no
rating.
"""
from __future__ import annotations

import logging

from bot.masking import mask_openid
from bot.rescue import check_agent_reply, reply_timeout
from handlers import Context, on_event
from handlers.handoff import after_session

log = logging.getLogger(__name__)


@on_event("kf_create_session")
def session_created(message, ctx: Context):
    svc, account = ctx.services, message.account or ""
    waited = svc.best_effort(lambda: svc.storage.session_started(message.source, account), None)
    log.info("agent %s took %s (waited %ss)", account, mask_openid(message.source), waited)
    ctx.notes.update(route="kf_session", agent=account, waited=waited)
    _check_reply_later(svc, message.source, account)
    return None


@on_event("kf_switch_session")
def session_switched(message, ctx: Context):
    svc, account = ctx.services, message.to_account or ""
    svc.best_effort(lambda: svc.storage.set_kf_session(message.source, "active", account), None)
    log.info("%s passed from %s to %s", mask_openid(message.source), message.from_account, account)
    ctx.notes["route"] = "kf_session"
    _check_reply_later(svc, message.source, account)
    return None


def _check_reply_later(svc, openid: str, account: str) -> None:
    """The silent-agent check for the session `account` now holds (bot.rescue)."""
    session = svc.best_effort(lambda: svc.storage.get_kf_session(openid), None)
    if session:
        timeout = reply_timeout(svc.settings, session.get("priority") == "1")
        svc.outbox.for_user(openid, check_agent_reply, account, session["since"], delay=timeout)


@on_event("kf_close_session")
def session_closed(message, ctx: Context):
    svc, account = ctx.services, message.account or ""
    ctx.notes["route"] = "kf_session"
    current = svc.best_effort(lambda: svc.storage.get_kf_session(message.source), None) or {}
    if current.get("account") and current["account"] != account:  # moved to another agent before this close
        log.info("close by %s ignored: %s is with %s now", account, mask_openid(message.source), current["account"])
        return None
    session = svc.best_effort(lambda: svc.storage.session_ended(message.source), None) or {}
    log.info("agent %s closed the session with %s", account, mask_openid(message.source))
    if session.get("state") != "rescued":
        after_session(message.source, account, session.get("since", ""), ctx)
    return None
