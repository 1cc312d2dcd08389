"""The note an agent sees when the bot hands a user to them (kfsession/create `text`, 附加信息).

Plain Python: the worker gathers the user's recent history (bot.storage
`history`), the session's priority and reason and the wait so far, and
`context_text` turns them into a few short lines for WeChat's kf client:
priority and why, the wait so far, topics, verification verdicts, the last
messages (last, so that a cut takes them first).
Personal data is masked (bot.masking) and digit runs that may be codes or
passwords are hidden; the text is cut to CONTEXT_MAX characters (WeChat
documents no limit for this field; a few lines is what the kf client shows).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.masking import mask_secrets

CONTEXT_MAX = 300
#: Messages of the user quoted (newest first), each cut to this many characters.
QUOTED, QUOTE_CHARS = 2, 60
TOPIC_CHARS = 30
REASONS = {"scam_alert": "疑似诈骗进行中", "request": "用户要求人工", "unanswered": "机器人未能回答",
           "requeue": "上一位客服未回复，用户选择继续等待"}
STATUSES = {"official": "官方", "not_official": "非官方", "revoked": "已停用"}


def wait_words(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60} 分 {seconds % 60} 秒" if seconds >= 60 else f"{seconds} 秒"


def _verdict(entry: str) -> str:
    identifier, _, status = entry.partition("=")
    return f"{identifier} {STATUSES.get(status, status)}"


def _unique(items) -> list:
    return list(dict.fromkeys(i for i in items if i))


def context_text(history: Sequence[Mapping], *, priority: bool, reason: str, waited: float | None,
                 topics: Mapping[str, str] | None = None, remark: str = "", limit: int = CONTEXT_MAX) -> str:
    """The note for the agent; `history` newest first (bot.storage history entries), `topics`
    maps FAQ ids to their questions, `remark` is one more line after the first (e.g. a reassignment)."""
    topics = topics or {}
    if reason == "request" and any(h.get("route") == "fallback" for h in history[:2]):
        reason = "unanswered"
    lines = [f"【{'优先' if priority else '普通'}】{REASONS.get(reason, reason or '用户要求人工')}"]
    if remark:
        lines.append(remark)
    if waited is not None:
        lines.append(f"已等待：{wait_words(waited)}")
    named = _unique(topics.get(h["faq_id"], h["faq_id"])[:TOPIC_CHARS] for h in history if h.get("faq_id"))
    if named:
        lines.append("话题：" + "；".join(named[:3]))
    verdicts = _unique(_verdict(v) for h in history for v in h.get("verdicts") or ())
    if verdicts:
        lines.append("核验：" + "；".join(verdicts[:3]))
    quotes = [mask_secrets(h.get("text", ""))[:QUOTE_CHARS] for h in history[:QUOTED] if h.get("text")]
    lines += [("最近：" if i == 0 else "之前：") + quote for i, quote in enumerate(quotes)]  # last: cut first
    text = "\n".join(lines)
    return text if len(text) <= limit else text[:limit - 1] + "…"
