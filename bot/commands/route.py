"""`python -m bot route`: what the bot would do with a message, as JSON (no Redis, no network).

    python -m bot route "提现失败怎么办"          one JSON object
    python -m bot route --jsonl < messages.txt    one JSON line per input line, in order
    python -m bot route --jsonl --dialogue        the lines are one user's turns (clarify, then "2")

Every input line is routed, a blank one included, so output line N answers input line N.
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
                        help="with --jsonl: carry the conversation state from line to line")
    parser.set_defaults(func=run)


def _line(decision) -> str:
    return json.dumps(decision.to_json(), ensure_ascii=False)


def run(args) -> int:
    from bot.router import build_router, default_prechecks

    if args.text is None and not args.jsonl:
        print("give a message, or --jsonl to read messages from stdin", file=sys.stderr)
        return 2
    settings = Settings.from_env()
    router = build_router(settings, prechecks=default_prechecks(settings))
    if not args.jsonl:
        print(_line(router.route(args.text)[0]))
        return 0
    if hasattr(sys.stdin, "reconfigure"):
        sys.stdin.reconfigure(encoding="utf-8")
    conversation = None
    for line in sys.stdin:
        decision, state = router.route(line.rstrip("\r\n"), conversation)
        if args.dialogue:
            conversation = state
        print(_line(decision), flush=True)
    return 0
