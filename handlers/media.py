"""Non-text messages: voice, image, video, short video, location, link."""
from __future__ import annotations

from bot.decision import Conversation
from bot.replies import Text, Transfer
from handlers import Context, on_message
from handlers.copy import capabilities, media_not_understood
from handlers.handoff import priority_handoff
from handlers.text import answer_text

SCAM_EVIDENCE = ("收到您发来的{what}，请先保存好，它是重要证据。我看不到{what}里的内容，"
                 "麻烦用文字简单说一下：对方是谁、让您做了什么、有没有转账或给出验证码。"
                 "不要再按对方说的操作。")


@on_message("voice")
def voice(message, ctx: Context):
    recognised = (message.recognition or "").strip()
    if recognised:
        return answer_text(message.source, recognised, ctx)
    ctx.notes["route"] = "voice_unrecognised"
    return Text("这条语音我没能听清，麻烦打字告诉我您遇到的问题，我马上帮您看～")


#: Seconds after a scam alert during which a picture is taken as evidence of that scam.
EVIDENCE_WINDOW = 1800


def _not_understood(what: str):
    def handler(message, ctx: Context):
        svc = ctx.services
        conversation, session = ctx.user or svc.best_effort(lambda: svc.storage.load_user(message.source),
                                                            (Conversation(), None))
        if conversation.alerted_at and ctx.now - conversation.alerted_at <= EVIDENCE_WINDOW:
            ctx.notes["route"] = "scam_evidence"
            if session:
                return Transfer(session.get("account") or None)
            line = priority_handoff(message.source, f"[{what}：诈骗提醒后发来的证据]", ctx)
            return Text(SCAM_EVIDENCE.format(what=what) + (f"\n{line}" if line else ""))
        ctx.notes["route"] = f"{message.type}_received"
        return Text(media_not_understood(svc.brand, what))
    return handler


for _kind, _what in (("image", "图片"), ("video", "视频"), ("shortvideo", "小视频")):
    on_message(_kind)(_not_understood(_what))


@on_message("location")
def location(message, ctx: Context):
    ctx.notes["route"] = "location_received"
    return Text("收到您的位置。我们的服务全部在线上办理，不需要位置信息～\n\n" + capabilities(ctx.services.brand))


@on_message("link")
def link(message, ctx: Context):
    """A shared link is often one a "客服" sent: its address is verified (a lookalike gets the phishing warning)."""
    text = " ".join(part for part in (message.title, message.url) if part)
    reply = answer_text(message.source, f"{text} 这个链接是官方的吗", ctx) if message.url else None
    if ctx.notes.get("route") in ("verify", "scam_alert", "with_agent"):
        return reply
    ctx.notes["route"] = "link_received"
    return Text("收到您分享的链接。想确认它是不是官方网站，可以直接把网址发给我核验～\n\n"
                + capabilities(ctx.services.brand))
