"""Handlers: one plain function per message kind, event and route.

A handler takes the wechatpy message and a `Context` and returns a reply
(`bot.replies.Text`, `bot.replies.Transfer`) or None for "success". Modules
register their functions with `@on_message("text")` or `@on_event("subscribe")`;
`dispatch` picks the function for a message. Unknown kinds answer "success".

Handlers run on the request thread and may only do bounded work: the router,
and Redis through `services.best_effort` (each call bounded by its timeout,
none started past the push's deadline). A handler that must wait on anything
else registers with ``blocking=True``: the endpoint then runs it on a pool
thread under BOT_REPLY_BUDGET and, if it overruns, answers "success" and sends
its reply later as a customer-service message.
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
_BLOCKING: set[Handler] = set()

HANDLER_MODULES = ("handlers.text", "handlers.media", "handlers.events", "handlers.kf", "handlers.platform")


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
    #: The user's text being answered (a text, recognised voice or link), for the agent's context note.
    text: str | None = None
    #: The user's (Conversation, agent session) if the endpoint read them with the push's admission.
    user: tuple | None = None
    #: Writes waiting for the push's last Redis round trip (the endpoint sets a list); None: at once.
    writes: list | None = None
    #: The text's turn (openid, Conversation, history entry), saved with the push's reply (see save_turn).
    turn: tuple | None = None
    #: Filled by handlers for logs and metrics: the route taken, and anything else worth noting.
    notes: dict = field(default_factory=dict)

    def save_turn(self, openid: str, conversation, entry: dict) -> None:
        """Save the dialogue state after a text and its history entry: in the same command as the
        push's reply when the endpoint batches writes, at once (best effort) otherwise."""
        if self.writes is not None:
            self.turn = (openid, conversation, entry)
        else:
            storage = self.services.storage
            self.services.best_effort(lambda: storage.save_turn(openid, conversation, entry), None)

    def write(self, action: Callable[[object], None]) -> None:
        """Have `action(pipeline)` queue Redis writes: sent with the push's reply when the
        endpoint batches them, at once (best effort) otherwise."""
        if self.writes is not None:
            self.writes.append(action)
        else:
            storage = self.services.storage
            self.services.best_effort(lambda: storage.apply([action]), None)


def _registrar(table: dict[str, Handler], key: str, blocking: bool):
    def register(fn: Handler) -> Handler:
        table[key] = fn
        (_BLOCKING.add if blocking else _BLOCKING.discard)(fn)
        return fn
    return register


def on_message(kind: str, *, blocking: bool = False):
    return _registrar(_MESSAGES, kind, blocking)


def on_event(name: str, *, blocking: bool = False):
    return _registrar(_EVENTS, name.lower(), blocking)


def load_all() -> None:
    for name in HANDLER_MODULES:
        importlib.import_module(name)


def find_handler(message) -> Handler | None:
    kind = getattr(message, "type", "unknown")
    if kind == "event":
        return _EVENTS.get(getattr(message, "event", ""))
    return _MESSAGES.get(kind)


def is_blocking(message) -> bool:
    return find_handler(message) in _BLOCKING


def dispatch(message, ctx: Context):
    handler = find_handler(message)
    if handler is None:
        ctx.notes["route"] = "unhandled"
        return None
    return handler(message, ctx)
