"""The HTTP surface: WeChat's callback URL and /healthz.

The callback checks the signature, then freshness (timestamp window and a
nonce remembered in Redis), decodes the push (bot.pushes), handles each
message once (a Redis claim keyed on MsgId, or sender+time+event for events)
and answers WeChat's retries with the stored reply. Users over the rate limit
get one polite reply.

A push costs two Redis round trips, each one registered script run by
EVALSHA: one before the handler (nonce, claim, rate counts, the user's state)
and one after it (the reply for retries, the route count, a text's dialogue
state and history, with the handler's other writes and the per-day counters of
bot.counters in the same pipeline). The callback URL is served by
`CallbackFastPath`, a WSGI layer under Flask that hands the request straight
to `answer_request`; Flask serves /healthz and the staff console.

Handlers run on the request thread; no Redis call starts once
BOT_REPLY_BUDGET less one Redis timeout has passed, so a slow Redis costs
state, not the reply. A handler registered as blocking runs on a pool thread
instead and, past the budget, is left to finish in the background with its
answer sent as a customer-service message. Either way WeChat hears back
within its 5 seconds, and whatever goes wrong in a handler, it gets a
well-formed answer, never an error page.
"""
from __future__ import annotations

import hashlib
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from functools import partial

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request

from bot import __version__
from bot.counters import count_push
from bot.masking import mask_openid
from bot.pushes import Refused, check_fresh, decode_push, dedupe_key, verify_signature
from bot.redis_server import redis_deadline
from bot.replies import Text, render
from bot.storage import Admission
from handlers import Context, dispatch, is_blocking

log = logging.getLogger(__name__)

SORRY = "抱歉，系统刚才开了个小差，请稍后再发一次；着急的话可以回复“人工”联系客服。"
SLOW_DOWN = "您发消息有点快啦，请稍等一分钟再发，我会一条条认真回复您～"
BUSY = "现在咨询的人有点多，请稍等片刻再发一次，抱歉让您久等。"
#: Message kinds that count towards the rate limits (events from WeChat itself do not).
_RATE_LIMITED = frozenset({"text", "image", "voice", "video", "shortvideo", "location", "link", "click"})
#: Kinds whose handler reads the user's dialogue state: it is fetched with the admission.
_READS_USER = frozenset({"text", "voice", "link", "click"})
_HANDLER_POOL = ThreadPoolExecutor(max_workers=32, thread_name_prefix="handler")


def services():
    return current_app.extensions["wxbot"]


def _xml(body: str) -> Response:
    if body == "success":
        return Response("success", mimetype="text/plain")
    return Response(body, mimetype="application/xml")


def _read_body(req: Request, limit: int) -> bytes:
    if req.content_length is not None and req.content_length > limit:
        raise Refused(413, "body too large")
    body = req.stream.read(limit + 1)
    if len(body) > limit:
        raise Refused(413, "body too large")
    return body


def _accept(svc, req: Request, now: float):
    """Check the request is a fresh, signed push from WeChat and decode it (no Redis yet)."""
    settings = svc.settings
    args = req.args
    if not settings.WECHAT_TOKEN:
        raise Refused(403, "WECHAT_TOKEN not configured")
    verify_signature(settings.WECHAT_TOKEN, args)
    if req.method == "GET":
        return None
    check_fresh(args.get("timestamp", ""), now, settings.BOT_REPLAY_WINDOW)
    if not args.get("nonce"):
        raise Refused(403, "no nonce")
    return decode_push(_read_body(req, settings.BOT_MAX_BODY_BYTES), args, svc.crypto)


#: What each kind of push opens of WeChat's customer-service message allowance.
_OPENS_ALLOWANCE = {"text": "message", "image": "message", "voice": "message", "video": "message",
                    "shortvideo": "message", "location": "message", "link": "message",
                    "subscribe": "event", "subscribe_scan": "event", "scan": "event", "click": "event",
                    "scancode_push": "event", "scancode_waitmsg": "event"}


def _handle(svc, push, now: float, admission: Admission, allowance: str | None) -> tuple[str, str, Context]:
    """Run the handler for a push: (final reply body, encrypted if needed; the route taken;
    the Context, with the writes and the turn left for the last round trip)."""
    message = push.message
    ctx = Context(services=svc, now=now, opened=(allowance, int(now)) if allowance else None,
                  user=admission.user, writes=[])
    try:
        limited, reply = _over_rate_limit(svc, admission.counts, message, ctx)
        if not limited:
            reply = _dispatch_within_budget(svc, message, ctx) if is_blocking(message) else dispatch(message, ctx)
        body = render(reply, message, now=now)
    except Exception:
        log.exception("handler failed for %s from %s", message.type, mask_openid(message.source))
        ctx.notes["route"] = "error"
        body = render(Text(SORRY), message, now=now)
    if push.encrypted and body != "success":
        body = svc.crypto.encrypt_message(body, push.nonce, push.timestamp)
    route = ctx.notes.get("route", _kind(message))
    if log.isEnabledFor(logging.DEBUG):  # one line per message: off unless BOT_LOG_LEVEL=DEBUG
        log.debug("%s from %s -> %s in %.1f ms", _kind(message), mask_openid(message.source), route,
                  (time.time() - now) * 1000)
    if ctx.writes is not None:   # the day's counters ride in the reply's round trip
        ctx.writes.append(count_push(svc.storage, route, ctx.notes, now, svc.hours.timezone))
    return body, route, ctx


def _kind(message) -> str:
    return getattr(message, "event", message.type)


def _over_rate_limit(svc, counts: tuple[int, int] | None, message, ctx: Context):
    """(True, reply) when this user or the whole service is over its rate; (False, None) otherwise."""
    if counts is None:  # not a counted kind, or Redis away: no limits rather than no answers
        return False, None
    user, everyone = counts
    settings = svc.settings
    if user > settings.BOT_USER_RATE:
        ctx.notes["route"] = "rate_limited"
        noticed = user == settings.BOT_USER_RATE + 1  # the first over the limit; silence for the rest
        if noticed:
            log.warning("%s over %s messages a minute", mask_openid(message.source), settings.BOT_USER_RATE)
        return True, Text(SLOW_DOWN) if noticed else None
    if everyone > settings.BOT_GLOBAL_RATE:
        ctx.notes["route"] = "busy"
        return True, Text(BUSY)
    return False, None


def _dispatch_within_budget(svc, message, ctx: Context):
    """Run a blocking handler on the pool; past the budget, answer now and send its reply later."""
    ctx.writes = None  # it may outlive the request: its writes go out as it makes them
    future = _HANDLER_POOL.submit(dispatch, message, ctx)
    try:
        return future.result(timeout=svc.settings.BOT_REPLY_BUDGET)
    except FutureTimeout:
        log.warning("%s from %s over the %.1fs budget: answering later by customer-service message",
                    message.type, mask_openid(message.source), svc.settings.BOT_REPLY_BUDGET)
        future.add_done_callback(partial(_send_late, svc, message.source, ctx.opened))
        ctx.notes["route"] = "over_budget"
        return None


def _send_late(svc, openid: str, opened, future) -> None:
    try:
        reply = future.result()
    except Exception:
        log.exception("late handler failed for %s", mask_openid(openid))
        return
    if isinstance(reply, Text):
        svc.outbox.send_text(openid, reply.content, purpose="notice", opened=opened)


def callback():
    return answer_request(services(), request)


def answer_request(svc, req: Request) -> Response:
    """The answer to one request to the callback URL (GET: the URL check; POST: a push)."""
    now = time.time()
    try:
        push = _accept(svc, req, now)
    except Refused as refused:
        log.warning("refused %s %s: %s", req.method, req.path, refused.reason)
        return Response(f"{refused.reason}\n", status=refused.status, mimetype="text/plain")
    if push is None:  # GET: the URL check from the MP console
        return Response(req.args.get("echostr", ""), mimetype="text/plain")

    with redis_deadline(svc.settings.redis_window):
        return _answer(svc, req, push, now)


class CallbackFastPath:
    """WSGI middleware: requests to the callback URL go to `answer_request` directly, without
    Flask's request context, URL routing or session (about 0.1 ms of a push's CPU in
    benchmarks/cpu_per_push.py); the rest (/healthz) goes through Flask. Errors are answered as the app's own handlers answer them."""

    def __init__(self, wsgi_app, svc, path: str, max_body: int):
        self.wsgi_app, self.svc, self.path = wsgi_app, svc, path
        self.request_class = type("CallbackRequest", (Request,), {"max_content_length": max_body})

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") != self.path or environ.get("REQUEST_METHOD") not in ("GET", "POST"):
            return self.wsgi_app(environ, start_response)  # /healthz; 405 for other methods
        try:
            response = answer_request(self.svc, self.request_class(environ))
        except HTTPException as exc:
            response = plain_http_error(exc)
        except Exception:
            response = unhandled_error()
        return response(environ, start_response)


def plain_http_error(exc: HTTPException) -> Response:
    return Response(f"{exc.code} {exc.name}\n", status=exc.code, mimetype="text/plain")


def unhandled_error() -> Response:
    """Never a traceback or an error page to WeChat: "success" (nothing to say) instead."""
    log.exception("unhandled error")
    return Response("success", status=200, mimetype="text/plain")


def _answer(svc, req: Request, push, now: float) -> Response:
    message, settings = push.message, svc.settings
    key = dedupe_key(message)
    ttl = settings.BOT_REPLY_CACHE_TTL
    kind = _kind(message)
    allowance = _OPENS_ALLOWANCE.get(kind)
    admission = svc.best_effort(lambda: svc.storage.admit_push(
        nonce=push.nonce, nonce_ttl=2 * settings.BOT_REPLAY_WINDOW, dedupe_key=key, claim_ttl=ttl,
        openid=message.source, count=kind in _RATE_LIMITED, allowance=allowance, now=now,
        load_user=kind in _READS_USER, user_limit=settings.BOT_USER_RATE), Admission())
    if not admission.nonce_new:
        log.warning("refused POST %s: nonce already used", req.path)
        return Response("nonce already used\n", status=403, mimetype="text/plain")
    if not admission.claimed:
        stored = svc.best_effort(lambda: svc.storage.wait_reply(key, settings.redis_window), None)
        log.info("retry of %s answered from the reply cache (%s)", key.split(":")[0],
                 "hit" if stored else "miss")
        return Response(stored[0], content_type=stored[1]) if stored else _xml("success")

    try:
        body, route, ctx = _handle(svc, push, now, admission, allowance)
        response = _xml(body)
    except Exception:  # after the claim: free it, or WeChat's retries would wait for a reply that never comes
        log.exception("push from %s could not be answered", mask_openid(message.source))
        svc.best_effort(lambda: svc.storage.release_message(key), None)
        return _xml("success")
    svc.best_effort(lambda: svc.storage.finish_push(key, response.get_data(), response.content_type, ttl, route,
                                                     ctx.writes, ctx.turn), None)
    if svc.outbox.backlog:
        svc.best_effort(svc.outbox.flush, None)
    return response


def healthz():
    svc = services()
    redis_ok = not svc.breaker.resting() and svc.best_effort(svc.storage.ping, False)
    faq = svc.router.health()
    faq_source = getattr(svc.router, "source", None)
    faq["version"] = getattr(faq_source, "version", None)
    files = {}
    for name, source in svc.sources.items():
        source.get()  # with BOT_RELOAD_INTERVAL=0 (no timer) this is what notices an edit
        files[name] = source.status()
    pending = svc.best_effort(lambda: svc.outbox.queue.count, None) if redis_ok else None
    degraded = not redis_ok or bool(faq.get("error")) or any(f["error"] for f in files.values())
    return jsonify({
        "status": "degraded" if degraded else "ok",
        "version": __version__,
        # What this process serves: gunicorn workers that agree on it serve the same edits.
        "process": {"pid": os.getpid(), "content_version": content_version(faq, files)},
        "redis": "ok" if redis_ok else "down",
        "faq": faq,
        "files": files,
        "faq_count": faq.get("count"),
        "outbound_queue": pending,
        "held_in_memory": len(svc.outbox.backlog),
    })


def content_version(faq: dict, files: dict) -> str:
    """One hash over the versions of the FAQ corpus and every staff-edited file this process serves."""
    parts = [f"faq={faq.get('version')}"] + [f"{name}={f['version']}" for name, f in sorted(files.items())]
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:12]


def make_blueprint(path: str) -> Blueprint:
    bp = Blueprint("wechat", __name__)
    bp.add_url_rule(path, "callback", callback, methods=["GET", "POST"])
    bp.add_url_rule("/healthz", "healthz", healthz, methods=["GET"])
    return bp
