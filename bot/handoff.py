"""Handing users to live agents: what users are told, and the queue worker's side of it.

The request path decides (bot.hours, bot.assign over the cached agent list)
and answers at once; everything that needs WeChat's API runs here, in the
worker: the session with the chosen agent (kfsession/create, with a context
note for the agent), the notice with the agent's number and queue position,
the pickup timeout, the survey, the online-agent cache and telling ticket
owners that agents are back. Whatever reaches the user goes through their
mailbox (bot.jobs), in the order decided; a notice about a handoff that has
ended since, or a survey already answered, is dropped.
"""
from __future__ import annotations

import logging
import threading
import time

from wechatpy.exceptions import WeChatClientException

from bot.agent_context import context_text
from bot.assign import Agent
from bot.jobs import Outbox, in_order, runtime, send_custom_message
from bot.masking import mask_openid
from bot.ratings import how_to_rate

log = logging.getLogger(__name__)


def _text(content: str) -> dict:
    return {"msgtype": "text", "text": {"content": content}}


# --- wording --------------------------------------------------------------------------------

def anti_fraud_line(brand: dict) -> str:
    return (f"提醒：{brand['brand_name']}官方客服绝不会索要验证码、密码或助记词，也不会让您转账；"
            "对客服工号有疑问，可把工号发到本公众号核验。")


def notice_text(agent: Agent | None, ahead: int | None, brand: dict, priority: bool = False,
                nobody_online: bool = False) -> str:
    lead = "已为您优先转接人工客服" if priority else "已为您转接人工客服"
    who = f" {agent.number}" + (f"（{agent.nickname}）" if agent.nickname else "") if agent else ""
    lines = [f"{lead}{who}。"]
    if nobody_online:
        lines.append("现在暂时没有客服在线，客服上线后会按排队顺序接入。")
    if ahead:
        lines.append(f"您前面还有 {ahead} 位用户在排队，请稍候，接通后客服会直接在这里回复您。")
    elif not nobody_online:
        lines.append("客服马上就到，请直接在这里描述您的问题。")
    return "".join(lines) + "\n" + anti_fraud_line(brand)


def closed_text(back: str | None, brand: dict, takes_message: bool = True) -> str:
    """`back`: when agents are back ("今天 09:00", bot.hours), None if no opening is scheduled."""
    offer = ("您可以直接回复一条消息描述问题，我会生成工单，客服上线后第一时间回复您。" if takes_message
             else f"届时请再发“人工”，或拨打官方热线 {brand['hotline']}。")
    when = f"将于{back} 上线" if back else "将于下一个工作日上线"
    return (f"现在是非工作时间，人工客服{when}（服务时间：{brand['service_hours']}）。\n{offer}\n"
            f"如遇被骗转账等紧急情况，请立即拨打反诈热线 {brand['anti_fraud_hotline']} 或报警 {brand['police']}。")


def ticket_text(number: str) -> str:
    return f"已收到您的留言，工单号 {number}。客服上线后会在这里回复您，请留意公众号消息。"


PICKUP_TIMEOUT_TEXT = ("目前咨询人数较多，客服暂时没能接入，抱歉让您久等。\n"
                       "您可以继续等待，或直接回复一条消息留言，我会生成工单，客服稍后回复您。")


#: The reason of a ticket left while agents were on duty but busy: no "agents are back" notice for it.
BUSY_TICKET = "agents_busy"
AGENTS_ONLINE_TEXT = "人工客服已上线，正在按排队顺序为您接入，请稍候；也可以直接回复一条消息留言。"


def agents_back_text(number: str) -> str:
    return f"您好，人工客服已上线。您的工单 {number} 已在处理中；如需现在沟通，回复“人工”即可接入。"


def survey_text(agent_number: str) -> str:
    return f"本次服务已结束，感谢您的耐心！请为客服 {agent_number} 的服务打分：{how_to_rate()}"


RATING_THANKS = "感谢您的评价！还有问题的话随时发消息给我。"


# --- jobs the worker runs -----------------------------------------------------------------------

def _ahead_of(openid: str, wait_case: dict) -> int:
    waiting = [row.get("openid") for row in wait_case.get("waitcaselist") or []]
    if openid in waiting:
        return waiting.index(openid)
    return int(wait_case.get("count") or len(waiting))


STALE = {"status": "stale"}


def _current_wait(openid: str, since) -> tuple[bool, dict | None]:
    """(still current, the session): False when the handoff that began at `since` has ended or
    another began (None `since`: unknown, taken as current)."""
    session = runtime().storage.get_kf_session(openid)
    if since is None:
        return True, session
    return bool(session) and session.get("waiting_since") == str(since), session


@in_order
def send_handoff_notice(openid: str, agent: dict | None, priority: bool = False,
                        nobody_online: bool = False, opened: tuple | None = None, since: int | None = None) -> dict:
    """The handoff notice, with the queue position read from the wait-case API at send time."""
    rt = runtime()
    current, session = _current_wait(openid, since)
    if not current:
        log.info("handoff notice to %s dropped: that handoff has ended", mask_openid(openid))
        return STALE
    ahead = None
    # No position to promise in WeChat's own queue (pool mode), nor once an agent holds the session.
    if not priority and rt.settings.BOT_ASSIGN_RULE != "pool" and (session or {}).get("state") != "active":
        try:
            ahead = _ahead_of(openid, rt.client.customservice.get_wait_case())
        except Exception as exc:  # the notice matters more than the position in it
            log.warning("wait-case lookup failed (%s); notice sent without the queue position", exc)
    text = notice_text(Agent(**agent) if agent else None, ahead, rt.brand(), priority, nobody_online)
    return send_custom_message(openid, _text(text), "handoff", opened=opened)


def agent_note(openid: str, session: dict | None, last_text: str | None = None, remark: str = "") -> str:
    """The context note for the agent taking `openid` (see bot.agent_context)."""
    rt = runtime()
    history = rt.storage.history(openid, 10)
    if last_text and (not history or history[0].get("text") != last_text[:300]):
        history.insert(0, {"text": last_text, "route": "handoff"})  # this push's turn is written after it
    session = session or {}
    waited = time.time() - int(session["waiting_since"]) if session.get("waiting_since") else None
    try:
        topics = rt.faq_questions({h["faq_id"] for h in history if h.get("faq_id")})
    except Exception as exc:  # a note without topic names beats no session
        log.warning("FAQ questions unavailable for the agent's note: %s", exc)
        topics = {}
    return context_text(history, priority=session.get("priority") == "1", reason=session.get("reason", ""),
                        waited=waited, topics=topics, remark=remark)


@in_order
def connect_agent(openid: str, agent: dict, priority: bool = False, since: int | None = None,
                  last_text: str | None = None, opened: tuple | None = None) -> dict:
    """Give the user to the chosen agent (kfsession/create with the context note), then the notice.

    If WeChat refuses the session, the passive transfer the user got keeps them in the agent's
    queue and the notice tells their place; a priority user (no transfer) gets the hotline."""
    rt = runtime()
    current, session = _current_wait(openid, since)
    if not current:
        log.info("session for %s with %s not created: that handoff has ended", mask_openid(openid), agent["account"])
        return STALE
    try:
        rt.client.customservice.create_session(openid, agent["account"], text=agent_note(openid, session, last_text))
    except WeChatClientException as exc:
        log.warning("kfsession/create for %s with %s refused (%s): %s", mask_openid(openid), agent["account"],
                    exc.errcode, "hotline offered" if priority else "left in the agent's queue")
        if priority:
            return send_custom_message(openid, _text(hotline_text(rt.brand())), "handoff", opened=opened)
        return send_handoff_notice(openid, agent, False, False, opened, since)
    if priority:
        log.warning("priority session for %s created with %s", mask_openid(openid), agent["account"])
    text = notice_text(Agent(**agent), None, rt.brand(), priority)
    return send_custom_message(openid, _text(text), "handoff", opened=opened)


def hotline_text(brand: dict) -> str:
    return (f"抱歉，客服暂时没能接入。情况紧急请立即拨打官方热线 {brand['hotline']}；"
            f"如已被骗转账，请拨打反诈热线 {brand['anti_fraud_hotline']} 或报警 {brand['police']}。")


@in_order
def send_survey(openid: str, account: str, since: str = "") -> dict:
    """Ask for a rating of the session that began at `since`, unless the user has rated it already."""
    rt = runtime()
    extra = rt.storage.load_conversation(openid).extra
    if extra.get("awaiting") != "rating" or str((extra.get("rating_for") or {}).get("since", "")) != str(since):
        log.info("survey to %s dropped: already answered", mask_openid(openid))
        return STALE
    return send_custom_message(openid, _text(survey_text(Agent(account=account).number)), "survey")


@in_order
def check_pickup(openid: str, waiting_since: int) -> str:
    """If the user is still waiting for the same handoff, say so and offer to take a message."""
    rt = runtime()
    session = rt.storage.get_kf_session(openid)
    if not session or session.get("state") != "waiting" or session.get("waiting_since") != str(waiting_since):
        return "picked_up"
    conversation = rt.storage.load_conversation(openid)
    conversation.extra["awaiting"] = "ticket"
    rt.storage.save_conversation(openid, conversation)
    send_custom_message(openid, _text(PICKUP_TIMEOUT_TEXT), "handoff")
    if not rt.storage.cached_agents():
        rt.storage.missed_pickup(openid)  # refresh_agents tells them as soon as an agent is online
    return "offered_ticket"


def refresh_agents(outbox: Outbox | None = None) -> list[dict]:
    """Read the online agents and their loads into Redis; tell ticket owners when agents are back."""
    rt = runtime()
    online = rt.client.customservice.get_online_accounts() or []
    names = {a.get("kf_account"): a.get("kf_nick", "") for a in rt.client.customservice.get_accounts() or []}
    agents = [{"account": a["kf_account"], "nickname": names.get(a["kf_account"], ""),
               "accepted": int(a.get("accepted_case") or 0), "kf_id": str(a.get("kf_id") or "")}
              for a in online if int(a.get("status", 1)) == 1]
    rt.storage.set_agents(agents)
    if agents and rt.hours().is_open(time.time()):
        outbox = outbox or Outbox(rt.storage.redis, rt.settings.BOT_QUEUE_NAME)
        for openid in rt.storage.take_missed_pickups():
            if (rt.storage.get_kf_session(openid) or {}).get("state") == "waiting":
                outbox.send(openid, _text(AGENTS_ONLINE_TEXT), purpose="handoff")
        for ticket in rt.storage.open_tickets():
            if ticket.get("status") == "open" and ticket.get("reason") != BUSY_TICKET:
                rt.storage.set_ticket_status(ticket["number"], "notifying")
                outbox.send(ticket["openid"], _text(agents_back_text(ticket["number"])), purpose="ticket",
                            ticket=ticket["number"])
    return agents


class AgentRefresher(threading.Thread):
    """Runs refresh_agents every `interval` seconds in the worker; one refresher at a time across hosts."""

    def __init__(self, interval: float):
        super().__init__(name="agent-refresher", daemon=True)
        self.interval = interval
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                if runtime().storage.claim_agent_refresh(self.interval * 0.9):
                    refresh_agents()
            except Exception as exc:  # WeChat or Redis away: keep the last cache until its TTL, try again
                log.warning("agent refresh failed: %s", exc)
            self.stopped.wait(self.interval)

    def stop(self) -> None:
        self.stopped.set()
