"""`python -m bot route`: what the bot would do with a message, as JSON (no Redis, no network).

    python -m bot route "提现失败怎么办"          one JSON object
    python -m bot route --jsonl < messages.txt    one JSON line per input line, in order
    python -m bot route --dialogue < turns.jsonl   JSON lines {"user": ID, "text": TEXT}: each user's
                                                  conversation carried in memory, as the endpoint does

Every input line is routed, a blank one included, so output line N answers input line N. With
--dialogue each user keeps their own conversation (clarification choices, fallbacks in a row, the
last topic, an offered second question) exactly as the endpoint stores it; a line that is not a JSON
object is a turn of user "-" (so `--jsonl --dialogue` over plain lines is one user's dialogue).
"""
from __future__ import annotations

import json
import sys

from config.settings import Settings


def register(subparsers) -> None:
    parser = subparsers.add_parser("route", help="route a message and print the decision as JSON")
    parser.add_argument("text", nargs="?", help="the user's message")
    parser.add_argument("--jsonl", action="store_true", help="read one message per line from stdin")
    parser.add_argument("--dialogue", action="store_true",
                        help='read JSON lines {"user": ID, "text": TEXT} and carry each user\'s conversation')
    parser.set_defaults(func=run)


def _line(decision) -> str:
    return json.dumps(decision.to_json(), ensure_ascii=False)


def _turn(line: str) -> tuple[str, str]:
    """(user, text) of one --dialogue line: a JSON object, or plain text from user "-"."""
    try:
        data = json.loads(line)
    except ValueError:
        return "-", line
    if isinstance(data, dict):
        return str(data.get("user", "-")), str(data.get("text") or "")
    return "-", line


def run(args) -> int:
    import time

    from bot.router import build_router, default_prechecks

    if args.text is None and not (args.jsonl or args.dialogue):
        print("give a message, or --jsonl / --dialogue to read messages from stdin", file=sys.stderr)
        return 2
    settings = Settings.from_env()
    router = build_router(settings, prechecks=default_prechecks(settings))
    if args.text is not None and not (args.jsonl or args.dialogue):
        print(_line(router.route(args.text)[0]))
        return 0
    if hasattr(sys.stdin, "reconfigure"):
        sys.stdin.reconfigure(encoding="utf-8")
    conversations: dict[str, object] = {}
    for line in sys.stdin:
        line = line.rstrip("\r\n")
        user, text = _turn(line) if args.dialogue else ("-", line)
        decision, state = router.route(text, conversations.get(user), now=time.time())
        if args.dialogue:
            conversations[user] = state
        print(_line(decision), flush=True)
    return 0
