"""The peer for benchmarks/load.py: a plain WeRoBot 1.13.1 bot doing what such a bot usually does.

    gunicorn -c config/gunicorn.conf.py benchmarks.werobot_peer:app   # from the repo root

- safe-mode pushes checked and decrypted by WeRoBot itself (signature, msg_signature, appid);
- sessions in Redis (WeRoBot's RedisStorage: one GET before the handler, one SET after it);
- each message handled once: ``SET NX EX`` on its MsgId, a repeat answered "success";
- keyword replies over the bot's own FAQ corpus (``faq_data/``, answers as the bot renders them):
  the first entry with a keyword the text contains, else a fixed "not understood" reply.

No replay window, reply cache, rate limits, routing or safety checks: what the bot does on
top of this is what it costs more. Installed only for benchmarks
(``pip install -r benchmarks/requirements.txt``). It reads WECHAT_TOKEN, WECHAT_APP_ID,
WECHAT_ENCODING_AES_KEY, REDIS_URL, BOT_FAQ_DIR and BOT_BRAND_FILE like the bot, and answers
GET /healthz for the launcher.
"""
from __future__ import annotations

from redis import Redis
from werobot import WeRoBot
from werobot.session.redisstorage import RedisStorage

from bot.faq import load_corpus
from config.settings import Settings

NOT_UNDERSTOOD = "抱歉，没有理解您的问题，可以换个说法，或回复“人工”联系客服。"
DEDUPE_TTL = 120


def keyword_table(settings: Settings) -> list[tuple[str, str]]:
    """(keyword, answer) for every keyword of every enabled FAQ entry, longest keywords first."""
    corpus = load_corpus(settings.BOT_FAQ_DIR, settings.BOT_BRAND_FILE)
    table = [(keyword, corpus.reply(entry.id)) for entry in corpus.entries.values() if entry.enabled
             for keyword in entry.keywords]
    return sorted(table, key=lambda row: -len(row[0]))


def create_peer_app(settings: Settings | None = None):
    settings = settings or Settings.from_env()
    db = Redis.from_url(settings.REDIS_URL)
    robot = WeRoBot(token=settings.WECHAT_TOKEN, app_id=settings.WECHAT_APP_ID,
                    encoding_aes_key=settings.WECHAT_ENCODING_AES_KEY,
                    session_storage=RedisStorage(db, prefix="peer:session:"))
    table = keyword_table(settings)

    @robot.text
    def answer(message, session):
        if not db.set(f"peer:msg:{message.message_id}", 1, nx=True, ex=DEDUPE_TTL):
            return "success"
        text = message.content or ""
        reply = next((answer for keyword, answer in table if keyword in text), NOT_UNDERSTOOD)
        session["messages"] = session.get("messages", 0) + 1
        return reply

    app = robot.wsgi
    app.route("/healthz", "GET", lambda: {"status": "ok"})
    return app


app = create_peer_app()
