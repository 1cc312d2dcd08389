"""Text messages (and recognised voice): route the text, then answer per route.

The router is plain Python; around it this handler reads the user's dialogue
state (usually already read with the push's admission) and leaves the new
state to be written with the reply (no state when Redis is down: the answer
still comes).
"""
from __future__ import annotations

from bot.decision import Conversation
from bot.masking import mask_text
from handlers import Context, on_message
from bot.ratings import rating_of
from handlers.handoff import (clear_awaiting, rating_not_understood, rescue_choice, take_rating, take_rescue_choice,
                              take_ticket)
from handlers.routes import answer_decision


def answer_text(openid: str, text: str, ctx: Context):
    svc = ctx.services
    storage = svc.storage
    ctx.text = text
    conversation, session = ctx.user or svc.best_effort(lambda: storage.load_user(openid), (Conversation(), None))
    awaiting = conversation.extra.get("awaiting")
    if awaiting == "rating":
        score = rating_of(text)
        if score is not None:
            return take_rating(openid, score, conversation.extra.get("rating_for") or {}, ctx)
    if awaiting == "rescue":  # the silent-agent offer: 1 queue again, 2 leave a message, else as usual
        conversation.extra.pop("awaiting", None)
        choice = rescue_choice(text)
        if choice is not None:
            ctx.conversation = conversation
            reply = take_rescue_choice(openid, choice, ctx)
            entry = {"text": mask_text(text[:300]), "route": ctx.notes["route"]}
            ctx.write(lambda pipe: storage.save_turn(openid, ctx.conversation, entry, pipe))
            return reply
    decision, ctx.conversation = svc.router.route(text, conversation, now=ctx.now)
    _note_for_counters(decision, ctx)
    if awaiting == "rating" and not _moved_on(decision):
        ctx.conversation = conversation
        reply = rating_not_understood(ctx)
    elif awaiting == "ticket" and decision.route not in ("scam_alert", "handoff", "verify"):
        reply = take_ticket(openid, text, ctx)
    else:
        if awaiting == "rating":
            clear_awaiting(ctx.conversation)
        reply = answer_decision(decision, openid, text, ctx, session)
    entry = _history_entry(text, decision, ctx.notes.get("route", decision.route))
    ctx.save_turn(openid, ctx.conversation, entry)
    return reply


def _moved_on(decision) -> bool:
    """After the survey: a question the bot can answer, a check, a scam or a request for a person
    is served as usual; anything else is taken as a reply to the survey."""
    return decision.route in ("faq", "clarify", "verify", "scam_alert") or (
        decision.route == "handoff" and not decision.unmatched)


def _note_for_counters(decision, ctx: Context) -> None:
    """What the per-day counters take from this text (bot.counters.count_push)."""
    ctx.notes["asked"] = decision.route
    if decision.faq_id and decision.route == "faq":
        ctx.notes["faq_id"] = decision.faq_id
    reported = sum(1 for v in decision.verdicts if v.get("status") != "official")
    if reported:
        ctx.notes["reported"] = reported


def _history_entry(text: str, decision, route: str) -> dict:
    """What the agent sees of this message later (python -m bot handoff show)."""
    entry = {"text": mask_text(text[:300]), "route": route}
    if decision.faq_id:
        entry["faq_id"] = decision.faq_id
    if decision.verdicts:
        entry["verdicts"] = [f"{v['identifier']}={v['status']}" for v in decision.verdicts]
    if decision.priority:
        entry["priority"] = True
    return entry


@on_message("text")
def text_message(message, ctx: Context):
    return answer_text(message.source, message.content or "", ctx)
