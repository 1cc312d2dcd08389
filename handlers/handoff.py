"""Handoff in the request path: decide at once, leave every API call to the queue worker.

In service hours: transfer to the chosen agent (or WeChat's queue when the
rule or the loads leave the choice to it, or nobody is online yet); when the
bot chose the agent, the worker also creates the session with them
(kfsession/create with a context note; the transfer is the fallback). Then
the notice (agent number, queue position, anti-fraud line) and a pickup
check that offers to take a message if nobody answers in time. Outside hours: say when
agents are back and take the user's next message as a ticket. A scam in
progress goes first: straight to the least loaded agent, or a priority ticket.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict

from bot import handoff as wording
from bot.assign import Agent, pick_agent
from bot.handoff import check_pickup, connect_agent, send_handoff_notice, send_survey
from bot.masking import mask_text
from bot.ratings import SKIPPED_TEXT, again_text
from bot.replies import Text, Transfer
from handlers import Context


def _agents(ctx: Context) -> list[Agent] | None:
    """Online agents from the worker's cache; None when the cache is unknown (worker or Redis away)."""
    svc = ctx.services
    rows = svc.best_effort(svc.storage.cached_agents, None)
    return None if rows is None else [Agent(**row) for row in rows]


#: What a conversation may be waiting for the user's next message to be (a ticket, a rating).
_AWAITING_KEYS = ("awaiting", "rating_for", "rating_asked")


def clear_awaiting(conversation) -> None:
    for key in _AWAITING_KEYS:
        conversation.extra.pop(key, None)


def _set_awaiting(openid: str, ctx: Context, value: dict | None) -> bool:
    """Remember what the user's next message is (a ticket, a rating); False if Redis is away."""
    svc = ctx.services

    def update(conversation):
        clear_awaiting(conversation)
        if value:
            conversation.extra.update(value)
        return conversation

    if ctx.conversation is not None:  # a text being handled: saved with the turn
        update(ctx.conversation)
        return svc.breaker.usable()
    return svc.best_effort(lambda: svc.storage.save_conversation(
        openid, update(svc.storage.load_conversation(openid))) or True, False)


def start_handoff(openid: str, ctx: Context, reason: str = "request"):
    svc = ctx.services
    settings = svc.settings
    if not svc.hours.is_open(ctx.now):
        ctx.notes["route"] = "handoff_closed"
        # Offer to take a message only if the next one can be recognised as it (state in Redis).
        takes_message = _set_awaiting(openid, ctx, {"awaiting": "ticket"})
        return Text(wording.closed_text(svc.hours.describe_next_open(ctx.now), svc.brand, takes_message))
    agents = _agents(ctx)
    agent = pick_agent(agents or [], settings.BOT_ASSIGN_RULE, max_sessions=settings.BOT_AGENT_MAX_SESSIONS)
    nobody_online = agents == []
    if nobody_online:
        ctx.notes["route"] = "handoff_queued"

    since = svc.best_effort(lambda: svc.storage.start_waiting(openid, agent.account if agent else "", False, reason),
                            None)
    if agent is not None:
        svc.outbox.for_user(openid, connect_agent, asdict(agent), False, since, _stored(ctx.text), ctx.opened)
    else:
        svc.outbox.for_user(openid, send_handoff_notice, None, False, nobody_online, ctx.opened, since)
    if since is not None:
        svc.outbox.for_user(openid, check_pickup, since, delay=settings.BOT_PICKUP_TIMEOUT)
    return Transfer(agent.account if agent else None)


def _stored(text: str | None) -> str | None:
    """The user's words as every store keeps them (the job queue is a store): masked, as in the history."""
    return mask_text(text[:300]) if text else text


def priority_handoff(openid: str, text: str, ctx: Context) -> str:
    """A line for the scam alert: who takes over now, or the priority ticket number."""
    svc = ctx.services
    agents = _agents(ctx) if svc.hours.is_open(ctx.now) else []
    agent = pick_agent(agents or [], priority=True)
    if agent is not None:
        since = svc.best_effort(lambda: svc.storage.start_waiting(openid, agent.account, True, "scam_alert"), None)
        svc.outbox.for_user(openid, connect_agent, asdict(agent), True, since, _stored(text), ctx.opened)
        return f"已为您优先转接人工客服 {agent.number}，请留意本对话。"
    number = svc.best_effort(lambda: svc.storage.create_ticket(openid, mask_text(text), priority=True, reason="scam_alert"), None)
    if number is None:
        return ""
    return f"已为您生成优先工单 {number}，客服上线后第一时间联系您。"


def take_ticket(openid: str, text: str, ctx: Context):
    svc = ctx.services
    # Left while agents are on duty (their pickup timed out): an agent answers it, no "agents are back".
    reason = wording.BUSY_TICKET if svc.hours.is_open(ctx.now) and _agents(ctx) else "left_message"
    number = svc.best_effort(lambda: svc.storage.create_ticket(openid, mask_text(text), reason=reason), None)
    _set_awaiting(openid, ctx, None)
    svc.best_effort(lambda: svc.storage.session_ended(openid), None)
    ctx.notes["route"] = "ticket"
    if number is None:
        return Text(f"抱歉，留言暂时没能保存，请稍后再发一次，或拨打官方热线 {svc.brand['hotline']}。")
    return Text(wording.ticket_text(number))


_RESCUE_CHOICE = re.compile(r"^\s*([12])\s*[。.!！]?\s*$")
LEAVE_MESSAGE_PROMPT = "好的，请直接回复一条消息描述您的问题，我会生成工单，客服稍后在这里回复您。"


def rescue_choice(text: str) -> str | None:
    """"1" (queue again) or "2" (leave a message): the answer to the silent-agent offer (bot.rescue)."""
    match = _RESCUE_CHOICE.match(unicodedata.normalize("NFKC", text or ""))
    return match.group(1) if match else None


def take_rescue_choice(openid: str, choice: str, ctx: Context):
    ctx.notes["route"] = "rescue_choice"
    if choice == "1":
        _set_awaiting(openid, ctx, None)
        return start_handoff(openid, ctx, reason="requeue")
    _set_awaiting(openid, ctx, {"awaiting": "ticket"})
    return Text(LEAVE_MESSAGE_PROMPT)


def take_rating(openid: str, score: int, rating_for: dict, ctx: Context):
    svc = ctx.services
    svc.best_effort(lambda: svc.storage.record_rating(openid, rating_for.get("account", ""), score,
                                                      str(rating_for.get("since", ""))), None)
    _set_awaiting(openid, ctx, None)
    ctx.notes.update(route="rating", rating=(rating_for.get("account", ""), score))
    return Text(wording.RATING_THANKS)


def rating_not_understood(ctx: Context):
    """A reply to the survey with no score in it: asked once more, then the survey is dropped.
    Neither counts as a fallback (the conversation in ctx is the one before the reply)."""
    extra = ctx.conversation.extra
    if extra.get("rating_asked"):
        clear_awaiting(ctx.conversation)
        ctx.notes["route"] = "rating_skipped"
        return Text(SKIPPED_TEXT)
    extra["rating_asked"] = True
    ctx.notes["route"] = "rating_again"
    return Text(again_text())


def after_session(openid: str, account: str, since: str, ctx: Context) -> None:
    """The agent closed the session: ask for a rating (a survey spends the least urgent allowance)."""
    svc = ctx.services
    _set_awaiting(openid, ctx, {"awaiting": "rating", "rating_for": {"account": account, "since": since}})
    svc.outbox.for_user(openid, send_survey, account, since)
