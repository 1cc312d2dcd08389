"""Handlers: one plain function per message kind, event and route.

A handler takes the wechatpy message and a `Context` and returns a reply
(`bot.replies.Text`, `bot.replies.Transfer`) or None for "success". Modules
register their functions with `@on_message("text")` or `@on_event("subscribe")`;
`dispatch` picks the function for a message. Unknown kinds answer "success".
"""
from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from typing import Callable

log = logging.getLogger(__name__)

Handler = Callable[[object, "Context"], object]
_MESSAGES: dict[str, Handler] = {}
_EVENTS: dict[str, Handler] = {}

HANDLER_MODULES = ("handlers.text", "handlers.media", "handlers.events", "handlers.kf")


@dataclass
class Context:
    """What a handler may use besides the message: the app's services, this request's time."""
    services: object          # bot.app.Services
    now: float
    #: The customer-service message allowance this push opened: ("message" | "event", time), or None.
    #: Jobs carry it, so a message sent later counts against the right allowance even if Redis
    #: missed the push.
    opened: tuple | None = None
    #: The user's dialogue state while a text is handled; handlers change it here and the text
    #: handler saves it once at the end (one Redis round trip).
    conversation: object = None
    #: Filled by handlers for logs and metrics: the route taken, and anything else worth noting.
    notes: dict = field(default_factory=dict)


def on_message(kind: str):
    def register(fn: Handler) -> Handler:
        _MESSAGES[kind] = fn
        return fn
    return register


def on_event(name: str):
    def register(fn: Handler) -> Handler:
        _EVENTS[name.lower()] = fn
        return fn
    return register


def load_all() -> None:
    for name in HANDLER_MODULES:
        importlib.import_module(name)


def find_handler(message) -> Handler | None:
    kind = getattr(message, "type", "unknown")
    if kind == "event":
        return _EVENTS.get(getattr(message, "event", ""))
    return _MESSAGES.get(kind)


def dispatch(message, ctx: Context):
    handler = find_handler(message)
    if handler is None:
        ctx.notes["route"] = "unhandled"
        return None
    return handler(message, ctx)
