"""`python -m bot tickets [list] | reply NUMBER TEXT | close NUMBER`: messages users left for agents.

Replies go out through the queue as customer-service messages; WeChat only
delivers them within 48 hours of the user's last message, so a reply past that
marks the ticket `outside_window` (call the user, or wait for them to write).
"""
from __future__ import annotations

import time


def list_tickets(args) -> int:
    from bot.redis_server import open_storage

    tickets = open_storage()[1].open_tickets(args.limit)
    if not tickets:
        print("没有待处理的工单。")
        return 0
    print(f"待处理工单 {len(tickets)} 个（优先的在前）：")
    for t in tickets:
        mark = "⚠️优先 " if t.get("priority") == "1" else ""
        created = time.strftime("%m-%d %H:%M", time.localtime(int(t["created"])))
        print(f"  {t['number']}  {created}  {t.get('status'):<14} {mark}{t['openid']}\n      {t['text']}")
    return 0


def reply(args) -> int:
    from bot.jobs import Outbox
    from bot.redis_server import open_storage

    settings, storage = open_storage()
    ticket = storage.get_ticket(args.number)
    if ticket is None:
        print(f"没有工单 {args.number}")
        return 1
    text = f"关于您的工单 {args.number}：\n{args.text}"
    Outbox(storage.redis, settings.BOT_QUEUE_NAME).send_text(ticket["openid"], text, purpose="ticket_reply",
                                                            ticket=args.number)
    print(f"已排队发送给工单 {args.number} 的用户；发送结果见 `python -m bot tickets`。")
    return 0


def close(args) -> int:
    from bot.redis_server import open_storage

    storage = open_storage()[1]
    if storage.get_ticket(args.number) is None:
        print(f"没有工单 {args.number}")
        return 1
    storage.set_ticket_status(args.number, "closed")
    print(f"工单 {args.number} 已关闭")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("tickets", help="messages users left for agents: list, reply, close")
    parser.set_defaults(func=list_tickets, limit=100)
    sub = parser.add_subparsers(dest="action")
    p = sub.add_parser("list", help="open tickets, priority first")
    p.add_argument("--limit", type=int, default=100)
    p.set_defaults(func=list_tickets)
    p = sub.add_parser("reply", help="answer a ticket through the customer-service message API")
    p.add_argument("number")
    p.add_argument("text")
    p.set_defaults(func=reply)
    p = sub.add_parser("close", help="mark a ticket done")
    p.add_argument("number")
    p.set_defaults(func=close)
