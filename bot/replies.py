"""Passive replies: what a handler returns, and how it becomes WeChat's reply XML.

Handlers return a `Text`, a `Transfer` (hand the user to customer service) or
None (answer "success": nothing to say now, or it comes later by the
customer-service API). `render` produces the XML; wechatpy renders text, and
the transfer is built here because wechatpy 1.8.18 cannot add TransInfo.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass

from wechatpy.replies import TextReply

#: WeChat truncates or rejects longer text replies; keep the whole message under it.
MAX_TEXT_BYTES = 2048
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class Text:
    content: str


@dataclass(frozen=True)
class Transfer:
    """transfer_customer_service, to one agent when `kf_account` is set, else to the pool."""
    kf_account: str | None = None


def clean_text(content: str, limit: int = MAX_TEXT_BYTES) -> str:
    """Text safe for a WeChat message: no control characters, within the byte limit."""
    content = _CONTROL.sub("", content)
    data = content.encode("utf-8")
    if len(data) <= limit:
        return content
    return data[: limit - 3].decode("utf-8", "ignore") + "…"


def _cdata(value: str) -> str:
    # "]]>" would end the CDATA section early (wechatpy does not escape it).
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def render(reply, message, now: int | None = None) -> str:
    """The reply XML to `message` (a wechatpy message); "success" for None."""
    now = int(now if now is not None else time.time())
    if reply is None:
        return "success"
    if isinstance(reply, Text):
        xml = TextReply(content="", message=message, time=now).render()
        return xml.replace("<Content><![CDATA[]]></Content>", "<Content>" + _cdata(clean_text(reply.content)) + "</Content>")
    if isinstance(reply, Transfer):
        trans = ""
        if reply.kf_account:
            trans = f"<TransInfo><KfAccount>{_cdata(reply.kf_account)}</KfAccount></TransInfo>"
        return (f"<xml><ToUserName>{_cdata(message.source)}</ToUserName>"
                f"<FromUserName>{_cdata(message.target)}</FromUserName>"
                f"<CreateTime>{now}</CreateTime>"
                f"<MsgType><![CDATA[transfer_customer_service]]></MsgType>{trans}</xml>")
    raise TypeError(f"not a reply: {reply!r}")
