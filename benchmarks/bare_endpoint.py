"""The baseline for benchmarks/load.py: a WeChat endpoint that does nothing but the protocol.

It checks the query signature, decrypts a safe-mode push with wechatpy's
`WeChatCrypto` (which checks msg_signature and appid) and echoes the user's
text back as an encrypted text reply. No Redis, no routing, no freshness or
replay checks: the least any correct safe-mode endpoint must do, so the bot's
throughput can be read as a fraction of it.

    gunicorn -c config/gunicorn.conf.py benchmarks.bare_endpoint:app   # from the repo root

It reads WECHAT_TOKEN, WECHAT_APP_ID, WECHAT_ENCODING_AES_KEY and
BOT_ENDPOINT_PATH like the bot, and answers GET /healthz for the launcher.

With REDIS_URL set it also does the one thing no endpoint on several hosts can
skip: it remembers each nonce in that Redis (SET NX EX, one round trip) and
refuses a reused one. load.py measures it as "floor": the least a multi-host,
replay-safe endpoint costs, before any dedupe, state or routing.
"""
from __future__ import annotations

from flask import Flask, Response, request
from redis import Redis
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

from config.settings import Settings


def create_bare_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    crypto = WeChatCrypto(settings.WECHAT_TOKEN, settings.WECHAT_ENCODING_AES_KEY, settings.WECHAT_APP_ID)
    nonces = Redis.from_url(settings.REDIS_URL) if settings.REDIS_URL else None
    app = Flask("bare_endpoint")

    @app.post(settings.BOT_ENDPOINT_PATH)
    def echo():
        args = request.args
        timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
        try:
            check_signature(settings.WECHAT_TOKEN, args.get("signature", ""), timestamp, nonce)
            xml = crypto.decrypt_message(request.get_data(), args.get("msg_signature", ""), timestamp, nonce)
        except (InvalidSignatureException, InvalidAppIdException):
            return Response("forbidden\n", status=403, mimetype="text/plain")
        if nonces is not None and not nonces.set(f"bare:nonce:{nonce}", 1, nx=True, ex=600):
            return Response("nonce already used\n", status=403, mimetype="text/plain")
        message = parse_message(xml)
        reply = TextReply(content=getattr(message, "content", "") or "success", message=message).render()
        return Response(crypto.encrypt_message(reply, nonce, timestamp), mimetype="application/xml")

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    return app


app = create_bare_app()
