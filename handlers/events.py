"""Events: subscribe (with or without a QR scene), unsubscribe, SCAN, LOCATION, and the custom menu's
buttons: CLICK, VIEW, mini-programs, code scans, photo and location pickers."""
from __future__ import annotations

import json
import logging
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

from bot.decision import Conversation, RouteDecision
from bot.masking import mask_openid
from bot.replies import Text, Transfer
from config.settings import PROJECT_ROOT
from handlers import Context, on_event
from handlers.copy import capabilities, welcome
from handlers.routes import answer_decision
from handlers.text import answer_text

log = logging.getLogger(__name__)
MENU_FILE = PROJECT_ROOT / "config" / "menu.json"


@lru_cache(maxsize=1)
def menu(path: Path = MENU_FILE) -> dict:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _scene_line(scene_id) -> str:
    return menu()["scenes"].get(str(scene_id or ""), "")


@on_event("subscribe")
def subscribe(message, ctx: Context):
    ctx.notes["route"] = "welcome"
    return Text(welcome(ctx.services.brand))


@on_event("subscribe_scan")
def subscribe_scan(message, ctx: Context):
    ctx.notes["route"] = "welcome"
    line = _scene_line(message.scene_id)
    return Text(welcome(ctx.services.brand) + (f"\n\n{line}" if line else ""))


@on_event("scan")
def scan(message, ctx: Context):
    line = _scene_line(message.scene_id)
    ctx.notes["route"] = "scan"
    return Text(line) if line else None


@on_event("unsubscribe")
def unsubscribe(message, ctx: Context):
    svc = ctx.services
    svc.best_effort(lambda: svc.storage.clear_user(message.source), None)
    log.info("user %s unsubscribed; state cleared", mask_openid(message.source))
    ctx.notes["route"] = "unsubscribed"
    return None


#: A click that hands the user to a person. WeChat ignores a transfer in reply to an event (protocol
#: doc §3), so it is said in words; the waiting session the handoff recorded transfers the next message.
HANDOFF_BY_MENU = "好的，正在为您转接人工客服。请直接发送您要咨询的问题，客服会在这里回复您。"


@on_event("click")
def click(message, ctx: Context):
    action = menu()["clicks"].get(message.key or "")
    ctx.notes["route"] = "click"
    if action is None:
        log.warning("menu key %r has no action in config/menu.json", message.key)
        return Text(welcome(ctx.services.brand))
    if "reply" in action:
        return Text(action["reply"])
    if "topics" in action:
        return topics(message.source, action, ctx)
    if "route" in action:
        reply = answer_decision(RouteDecision(route=action["route"], reply=""), message.source, message.key, ctx)
    elif "faq" in action:  # asked from the menu: answered even while an agent holds the session
        reply = answer_decision(ctx.services.router.answer(action["faq"]), message.source, message.key, ctx,
                                session=None)
    else:
        reply = answer_text(message.source, action["text"], ctx)
    return Text(HANDOFF_BY_MENU) if isinstance(reply, Transfer) else reply


#: The router takes a one-digit answer to a numbered list.
MOST_TOPICS = 9


def topics(openid: str, action: dict, ctx: Context):
    """A numbered list of FAQ questions; the user's number (within the router's CHOICE_TTL) gets
    the answer, exactly as after a clarification."""
    svc = ctx.services
    corpus = svc.router.source.get()
    ids = [faq_id for faq_id in action["topics"] if faq_id in corpus][:MOST_TOPICS]
    ctx.notes["route"] = "menu_topics"
    if not ids:  # every listed entry went away in an edit: say what the bot can do instead
        return Text(capabilities(svc.brand))
    lines = [action.get("head", "")] + [f"{n}. {corpus.question(faq_id)}" for n, faq_id in enumerate(ids, 1)]
    conversation, _ = ctx.user or (svc.best_effort(lambda: svc.storage.load_conversation(openid), None), None)
    if conversation is not None:
        offered = replace(conversation, pending_choices=tuple(ids), choices_at=ctx.now, fallbacks_in_row=0,
                          human_offered=False)
        entry = {"text": "[菜单] " + action.get("head", "")[:40], "route": "menu_topics"}
        ctx.write(lambda pipe: svc.storage.save_turn(openid, offered, entry, pipe))
    return Text("\n".join(line for line in lines if line))


@on_event("view")
def view(message, ctx: Context):
    ctx.notes["route"] = "view"
    return None


@on_event("location")
def location_report(message, ctx: Context):
    # Reported every few seconds while the chat is open, when the account asks for it: never answer.
    ctx.notes["route"] = "location_report"
    return None


@on_event("view_miniprogram")
def view_miniprogram(message, ctx: Context):
    ctx.notes["route"] = "view"
    return None


#: What a scanned code that is no contact or link gets (scancode_waitmsg waits for an answer).
SCANNED_TEXT = ("已收到扫码内容：{result}\n里面没有网址、电话或客服工号，无需核验。"
                "如果是别人让您扫的“客服”“退款”二维码，请先不要操作，把对方的网址、电话或工号发给我核验。")


@on_event("scancode_push")
@on_event("scancode_waitmsg")
def scan_code(message, ctx: Context):
    """A code scanned with the menu's scan button: a link or contact in it is checked at once
    (fake "customer service" QR codes are a common scam); anything else is acknowledged."""
    result = str((message.scan_code_info or {}).get("ScanResult") or "").strip()
    if result:
        decision, _ = ctx.services.router.route(result, Conversation(), now=ctx.now)
        if decision.route in ("verify", "scam_alert"):  # never a transfer: events are not transferred
            return answer_decision(decision, message.source, result, ctx, session=None)
    ctx.notes["route"] = "scan_code"
    if message.event == "scancode_push" or not result:  # WeChat's client shows the result itself
        return None
    return Text(SCANNED_TEXT.format(result=result[:200]))


@on_event("pic_sysphoto")
@on_event("pic_photo_or_album")
@on_event("pic_weixin")
@on_event("location_select")
def picker(message, ctx: Context):
    """The photo and location pickers: what the user picks arrives next as an ordinary image or
    location message, which gets the answer; the picker's own event gets "success"."""
    ctx.notes["route"] = "picker"
    return None
