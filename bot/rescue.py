"""Silent agents: a user whose agent has not written for BOT_AGENT_REPLY_TIMEOUT is told and helped on.

When an agent accepts a session (kf_create_session) the request path queues
`check_agent_reply` for one timeout later (half of BOT_AGENT_REPLY_TIMEOUT for
a priority session). The worker reads WeChat's chat records
(msgrecord/getmsglist): the agent is silent when nothing they wrote (opercode
2002) has answered the session's start, or the user's oldest unanswered
message (2003), for the timeout. While the agent keeps answering the check
comes back when the timeout could next run out; it stops when the session ends.

A silent agent, once per session:
- routine session: it is closed (no survey) and the user is offered: keep
  waiting (queued again), leave a message (a ticket), or the hotline;
- priority session: reassigned to the least loaded other online agent (with
  the context note), once; if that one is silent too, or nobody else is on,
  the user gets the hotline, once.
"""
from __future__ import annotations

import logging
import time

from wechatpy.exceptions import WeChatClientException

from bot.assign import Agent, pick_agent
from bot.handoff import _text, agent_note, hotline_text
from bot.jobs import Outbox, in_order, runtime, send_custom_message
from bot.masking import mask_openid

log = logging.getLogger(__name__)

AGENT_SENT, AGENT_RECEIVED = 2002, 2003
RECORD_PAGE = 10000
RECORD_PAGES = 10
RECORD_PERIOD = 24 * 3600


def reply_timeout(settings, priority: bool) -> float:
    return settings.BOT_AGENT_REPLY_TIMEOUT / (2 if priority else 1)


def waiting_since(records, openid: str, account: str, started: int) -> int | None:
    """Since when the user has waited for `account`: the session start, or their first message after
    the agent's last one; None when the agent has answered everything."""
    since: int | None = started
    for record in sorted((r for r in records if r.get("openid") == openid and r.get("time", 0) >= started),
                         key=lambda r: r["time"]):
        if record.get("opercode") == AGENT_SENT and record.get("worker") == account:
            since = None
        elif record.get("opercode") == AGENT_RECEIVED and since is None:
            since = record["time"]
    return since


def chat_records(client, start: int, end: int) -> list[dict]:
    """Every chat record from `start` to `end` (within the API's 24 h and page limits)."""
    start = max(start, end - RECORD_PERIOD + 1)
    records, msgid = [], 1
    for _ in range(RECORD_PAGES):
        page = client.customservice.get_records(start, end, msgid=msgid, number=RECORD_PAGE)
        records += page.get("recordlist") or []
        if int(page.get("number") or 0) < RECORD_PAGE:
            break
        msgid = int(page["msgid"])
    return records


def rescue_text(agent_number: str, brand: dict) -> str:
    return (f"抱歉，客服 {agent_number} 暂时没能回复您，让您久等了。您可以：\n"
            "回复 1 继续等待，我为您重新排队；\n"
            "回复 2 留言，我会生成工单，客服稍后在这里回复您；\n"
            f"或直接拨打官方热线 {brand['hotline']}。")


def reassigned_text(old: str, agent: Agent) -> str:
    return (f"客服 {old} 暂时没能回复，已为您改派客服 {agent.number}"
            + (f"（{agent.nickname}）" if agent.nickname else "") + "，请稍候。")


@in_order
def check_agent_reply(openid: str, account: str, started: str) -> dict:
    rt = runtime()
    session = rt.storage.get_kf_session(openid)
    if not session or session.get("state") != "active" or session.get("account") != account \
            or session.get("since") != str(started):
        return {"status": "ended"}
    priority = session.get("priority") == "1"
    timeout = reply_timeout(rt.settings, priority)
    now = int(time.time())
    since = waiting_since(chat_records(rt.client, int(started), now), openid, account, int(started))
    if since is not None and now - since >= timeout:
        log.warning("agent %s silent for %ss with %s", account, now - since, mask_openid(openid))
        return (_reassign_or_hotline if priority else _offer_ways_on)(openid, account, session)
    due = (since if since is not None else now) + timeout
    Outbox(rt.storage.redis, rt.settings.BOT_QUEUE_NAME).for_user(
        openid, check_agent_reply, account, started, delay=max(1.0, due - time.time()))
    return {"status": "answering"}


def _offer_ways_on(openid: str, account: str, session: dict) -> dict:
    rt = runtime()
    if session.get("rescued"):
        return {"status": "offered_before"}
    rt.storage.mark_kf_session(openid, state="rescued", rescued=1)  # its close event asks no rating
    try:
        rt.client.customservice.close_session(openid, account)  # its close event ends the record
    except WeChatClientException as exc:  # already closed: no event will come
        log.info("closing the silent session of %s: %s", mask_openid(openid), exc.errcode)
        rt.storage.session_ended(openid)
    conversation = rt.storage.load_conversation(openid)
    conversation.extra["awaiting"] = "rescue"
    rt.storage.save_conversation(openid, conversation)
    send_custom_message(openid, _text(rescue_text(Agent(account=account).number, rt.brand())), "handoff")
    return {"status": "offered"}


def _reassign_or_hotline(openid: str, account: str, session: dict) -> dict:
    rt = runtime()
    if not session.get("reassigned"):
        others = [Agent(**a) for a in rt.storage.cached_agents() or [] if a["account"] != account]
        agent = pick_agent(others, priority=True)
        if agent is not None:
            rt.storage.mark_kf_session(openid, state="waiting", account=agent.account, reassigned=1)
            try:
                rt.client.customservice.close_session(openid, account)
            except WeChatClientException as exc:
                log.info("closing the silent priority session of %s: %s", mask_openid(openid), exc.errcode)
            note = agent_note(openid, session, remark=f"原客服 {Agent(account=account).number} 未回复，已改派")
            try:
                rt.client.customservice.create_session(openid, agent.account, text=note)
            except WeChatClientException as exc:
                log.warning("reassigning %s to %s refused (%s)", mask_openid(openid), agent.account, exc.errcode)
            else:
                log.warning("priority session of %s reassigned from %s to %s", mask_openid(openid), account,
                            agent.account)
                text = reassigned_text(Agent(account=account).number, agent)
                send_custom_message(openid, _text(text), "handoff")
                return {"status": "reassigned", "to": agent.account}
    if session.get("hotline"):
        return {"status": "helped_before"}
    rt.storage.mark_kf_session(openid, hotline=1)
    send_custom_message(openid, _text(hotline_text(rt.brand())), "handoff")
    return {"status": "hotline"}

