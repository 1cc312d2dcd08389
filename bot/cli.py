"""`python -m bot …`: the command line for staff, operators and testers.

Each module in `bot/commands/` adds one subcommand through
`register(subparsers)`; the parser sets `func(args) -> int` on its namespace.
"""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

import bot.commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="WeChat wallet customer-service bot")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(bot.commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"bot.commands.{info.name}")
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(encoding="utf-8")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
