"""Non-text messages: voice, image, video, short video, location, link."""
from __future__ import annotations

from bot.replies import Text
from handlers import Context, on_message
from handlers.copy import capabilities, media_not_understood
from handlers.text import answer_text


@on_message("voice")
def voice(message, ctx: Context):
    recognised = (message.recognition or "").strip()
    if recognised:
        return answer_text(message.source, recognised, ctx)
    ctx.notes["route"] = "voice_unrecognised"
    return Text("这条语音我没能听清，麻烦打字告诉我您遇到的问题，我马上帮您看～")


def _not_understood(what: str):
    def handler(message, ctx: Context):
        ctx.notes["route"] = f"{message.type}_received"
        return Text(media_not_understood(ctx.services.brand, what))
    return handler


for _kind, _what in (("image", "图片"), ("video", "视频"), ("shortvideo", "小视频")):
    on_message(_kind)(_not_understood(_what))


@on_message("location")
def location(message, ctx: Context):
    ctx.notes["route"] = "location_received"
    return Text("收到您的位置。我们的服务全部在线上办理，不需要位置信息～\n\n" + capabilities(ctx.services.brand))


@on_message("link")
def link(message, ctx: Context):
    """A shared link is often one a "客服" sent: check it like typed text, answer plainly otherwise."""
    text = " ".join(part for part in (message.title, message.url) if part)
    reply = answer_text(message.source, text, ctx) if text else None
    if ctx.notes.get("route") in ("verify", "scam_alert", "with_agent"):
        return reply
    ctx.notes["route"] = "link_received"
    return Text("收到您分享的链接。想确认它是不是官方网站，可以直接把网址发给我核验～\n\n"
                + capabilities(ctx.services.brand))
