"""The bot with the understanding step replaced by a fixed decision, for benchmarks/load.py.

    gunicorn -c config/gunicorn.conf.py benchmarks.fixed_decision_app:app   # load.py --fixed-decision

Everything but the router is the bot as deployed (protocol, replay window, reply cache, rate
limits, dialogue state, history, the reply): every text gets the answer of one FAQ entry
(``withdraw_failed``, through the router's own public `answer`), so the bot's cost without
understanding can be read against the peer's, which does no understanding either.
"""
from __future__ import annotations

from bot.app import create_app
from bot.router import build_router
from config.settings import Settings

FAQ_ID = "withdraw_failed"


class FixedRouter:
    """The Router's public surface, answering every text with one FAQ entry."""

    def __init__(self, router, faq_id: str = FAQ_ID):
        self.router = router
        self.faq_id = faq_id

    def route(self, text, conversation=None, now=None):
        return self.router.answer(self.faq_id), conversation

    def answer(self, faq_id):
        return self.router.answer(faq_id)

    def health(self):
        return self.router.health()


def create_fixed_app(settings: Settings | None = None):
    settings = settings or Settings.from_env()
    return create_app(settings, router=FixedRouter(build_router(settings)))


app = create_fixed_app()
