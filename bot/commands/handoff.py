"""`python -m bot handoff show OPENID | queue | stats`: live-agent conversations, for agents and leads.

- `show OPENID`: the context an agent needs: session state, priority mark, the
  last messages with their routes, FAQ topics and verification verdicts.
- `queue`: waiting (queue order, priority first) and active conversations.
- `stats`: sessions, average wait and ratings per agent.
"""
from __future__ import annotations

import json
import time

from bot.masking import mask_openid


def _when(ts) -> str:
    return time.strftime("%m-%d %H:%M:%S", time.localtime(int(ts))) if ts else "-"


def show(args) -> int:
    from bot.redis_server import open_storage

    storage = open_storage()[1]
    session = storage.get_kf_session(args.openid)
    priority = storage.priority_reason(args.openid)
    history = storage.history(args.openid, args.last)
    if args.json:
        print(json.dumps({"session": session, "priority": priority, "history": history}, ensure_ascii=False, indent=2))
        return 0
    print(f"用户 {args.openid}")
    if session:
        print(f"会话：{session.get('state')}  客服：{session.get('account') or '（排队中，未指定）'}  "
              f"开始：{_when(session.get('since'))}")
    else:
        print("会话：无（机器人接待中）")
    if priority:
        print(f"⚠️ 优先处理：{priority}（疑似正在被诈骗）")
    print(f"最近 {len(history)} 条消息（新的在上）：")
    for entry in history:
        extra = []
        if entry.get("faq_id"):
            extra.append(f"FAQ {entry['faq_id']}")
        if entry.get("verdicts"):
            extra.append("核验 " + ", ".join(entry["verdicts"]))
        if entry.get("priority"):
            extra.append("诈骗预警")
        tail = f"  [{'; '.join(extra)}]" if extra else ""
        print(f"  {_when(entry.get('at'))}  {entry.get('route', '-'):<10} {entry.get('text', '')}{tail}")
    return 0


def queue(args) -> int:
    from bot.redis_server import open_storage

    storage = open_storage()[1]
    lists = storage.handoff_lists()
    for name, title in (("waiting", "排队中"), ("active", "接待中")):
        rows = lists[name]
        print(f"{title}（{len(rows)}）")
        for openid, since in rows:
            session = storage.get_kf_session(openid) or {}
            mark = " ⚠️优先" if session.get("priority") == "1" else ""
            user = openid if args.full else mask_openid(openid)
            print(f"  {user}  {session.get('account') or '-':<32} 自 {_when(since)}{mark}")
    return 0


def stats(args) -> int:
    from bot.redis_server import open_storage

    rows = open_storage()[1].agent_stats()
    if not rows:
        print("还没有会话记录。")
        return 0
    print(f"{'客服账号':<34}{'会话':>6}{'平均等待':>10}{'评价数':>8}{'平均分':>8}")
    for account, data in sorted(rows.items()):
        waits = data.get("waits", 0)
        avg_wait = f"{data.get('wait_total', 0) / waits:.0f}s" if waits else "-"
        ratings = data.get("ratings", 0)
        avg = f"{data.get('rating_total', 0) / ratings:.2f}" if ratings else "-"
        print(f"{account:<34}{data.get('sessions', 0):>6}{avg_wait:>10}{ratings:>8}{avg:>8}")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("handoff", help="live-agent conversations: show, queue, stats")
    sub = parser.add_subparsers(dest="action", required=True)
    p = sub.add_parser("show", help="context of one user's conversation, for the agent")
    p.add_argument("openid")
    p.add_argument("--last", type=int, default=20)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=show)
    p = sub.add_parser("queue", help="waiting and active conversations")
    p.add_argument("--full", action="store_true", help="print whole openids (agents need them to act)")
    p.set_defaults(func=queue)
    sub.add_parser("stats", help="sessions, waits and ratings per agent").set_defaults(func=stats)
