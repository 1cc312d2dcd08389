"""Outbound WeChat API calls as jobs on a Redis-backed queue (RQ).

The request path never calls WeChat: it enqueues through `Outbox`, and the
worker (`python -m bot worker`) runs the job functions below. Network errors,
timeouts and 5xx raise, so RQ retries them with backoff; token errors are
refreshed once inside the client; 45015 (outside the 48-hour window) and 45047
(customer-service quota) are final for that message, which is recorded as
undelivered rather than retried blindly.

Everything sent to one user goes through that user's mailbox, in the order
it was decided: `Outbox.for_user` queues `deliver_in_order`, which files the
call in a Redis sorted set by decision time and sends the user's calls one
at a time, oldest first, under a per-user lock. A call that fails stays at
the head, so later ones wait behind it (RQ retries the job); a call that
finds it has gone stale (a queue position after the session closed, a
survey after the rating) returns without sending. The calls that may go in
a mailbox are the functions marked `@in_order`.
"""
from __future__ import annotations

import importlib
import json
import logging
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import redis
from rq import Queue, Retry, get_current_job
from wechatpy.exceptions import WeChatClientException

from bot.masking import mask_openid
from bot.redis_server import Breaker
from bot.reloader import ReloadingSource, read_json
from bot.storage import Storage
from bot.wechat import SharedTokenClient, make_client
from config.settings import Settings

log = logging.getLogger(__name__)

#: Errors that retrying cannot fix: the user must write again first.
UNDELIVERABLE = {45015: "outside_window", 45047: "quota_exhausted", 40003: "invalid_openid"}
#: How many customer-service messages a purpose must leave in the user's allowance: the
#: allowance is spent by priority (handoff notices, then ticket replies, then surveys).
KEEP_FOR_MORE_URGENT = {"handoff": 0, "ticket_reply": 0, "ticket": 0, "notice": 0, "survey": 1}
RETRY = Retry(max=5, interval=[2, 10, 30, 120, 600])
JOB_TIMEOUT = 30
#: A call still in a user's mailbox this long after it was decided is dropped, not sent.
MAILBOX_STALE_AFTER = 3600
#: Seconds a job waits for another worker to finish the same user's mailbox before it is retried.
MAILBOX_WAIT = 5.0

#: Functions that send to one user, by name: the only calls a mailbox entry may name.
_IN_ORDER: dict = {}
#: The modules that define them (imported by `configure`, so the worker knows every name).
IN_ORDER_MODULES = ("bot.handoff", "bot.rescue")


def in_order(func):
    """Mark a job function `func(openid, *args)` as one that reaches a user (see the module doc)."""
    _IN_ORDER[func.__name__] = func
    return func


class MailboxBusy(Exception):
    """Another worker is sending this user's calls; RQ retries the job."""


class Outbox:
    """Enqueues outbound calls; used by the request path (it only talks to Redis).

    When Redis is unreachable a call is held in memory (bounded) and queued as
    soon as Redis answers again, so a notice is delayed, not lost.
    """

    BACKLOG_MAX = 10000

    def __init__(self, connection: redis.Redis, queue_name: str, breaker: Breaker | None = None):
        self.queue = Queue(queue_name, connection=connection, default_timeout=JOB_TIMEOUT)
        self.breaker = breaker or Breaker()
        self.backlog: deque = deque(maxlen=self.BACKLOG_MAX)
        self._lock = threading.Lock()

    def enqueue(self, func, *args, delay: float = 0.0, description: str | None = None):
        """Queue `func(*args)` now (or after `delay` seconds); None if it had to wait in memory."""
        call = (func, args, time.time() + delay, description)
        if not self.breaker.usable():  # Redis resting after a failure, or too late for this push
            return self._hold(call, "Redis resting or past the push's deadline")
        try:
            self.flush()
            return self._put(call)
        except (redis.RedisError, OSError) as exc:
            self.breaker.failed()
            return self._hold(call, f"Redis unavailable ({type(exc).__name__})")

    def _hold(self, call, why: str) -> None:
        with self._lock:
            self.backlog.append(call)
        log.warning("%s: %s held in memory (%d waiting)", why, call[3] or call[0].__name__, len(self.backlog))

    def _put(self, call):
        func, args, due, description = call
        kwargs = {"retry": RETRY, "description": description or func.__name__}
        delay = due - time.time()
        if delay > 0.5:
            return self.queue.enqueue_in(timedelta(seconds=delay), func, *args, **kwargs)
        return self.queue.enqueue(func, *args, **kwargs)

    def flush(self) -> None:
        """Queue what was held while Redis was away (raises RedisError if it still is)."""
        with self._lock:
            while self.backlog:
                self._put(self.backlog[0])
                self.backlog.popleft()

    def for_user(self, openid: str, func, *args, delay: float = 0.0, description: str | None = None):
        """Queue `func(openid, *args)` (an `@in_order` function) in the user's mailbox: sent after
        everything decided for them before now (or, with `delay`, before then)."""
        if _IN_ORDER.get(func.__name__) is not func:
            raise ValueError(f"{func.__name__} is not marked @in_order")
        return self.enqueue(deliver_in_order, openid, time.time() + delay, func.__name__, list(args), delay=delay,
                            description=description or f"{func.__name__} to {mask_openid(openid)}")

    def send(self, openid: str, message: dict, *, purpose: str = "notice", kf_account: str | None = None,
             ticket: str | None = None, opened: tuple | None = None):
        """Queue a customer-service message; `message` is {"msgtype": T, T: {...}}.

        `ticket`: the ticket this message answers; it is marked if WeChat refuses the message for good.
        `opened`: the allowance the user's push opened, ("message" | "event", time) (see Context.opened).
        """
        return self.for_user(openid, send_custom_message, message, purpose, kf_account, ticket, opened,
                             description=f"{purpose} to {mask_openid(openid)}")

    def send_text(self, openid: str, content: str, **kwargs):
        return self.send(openid, {"msgtype": "text", "text": {"content": content}}, **kwargs)

    def kf_call(self, method: str, *args, **kwargs):
        """Queue one `client.customservice.<method>(*args, **kwargs)` call."""
        return self.enqueue(call_customservice, method, args, kwargs, description=f"customservice.{method}")


@dataclass
class _Runtime:
    settings: Settings
    storage: Storage
    client: SharedTokenClient
    _files: dict = field(default_factory=dict)

    def _source(self, name: str, path: str, load):
        """A hot-reloading view of a staff-edited file, made on first use."""
        if name not in self._files:
            self._files[name] = ReloadingSource(lambda: [Path(path)], lambda: load(path),
                                                self.settings.BOT_RELOAD_INTERVAL, name=name)
        return self._files[name].get()

    def brand(self) -> dict:
        return self._source("brand", self.settings.BOT_BRAND_FILE, read_json)

    def hours(self):
        from bot.hours import ServiceHours

        return self._source("service hours", self.settings.BOT_HOURS_FILE, ServiceHours.load)

    def faq_questions(self, faq_ids) -> dict[str, str]:
        """The questions of these FAQ entries (for the agent's context note); ids it lacks map to themselves."""
        if "faq" not in self._files:
            from bot.faq import corpus_source

            self._files["faq"] = corpus_source(self.settings)
        corpus = self._files["faq"].get()
        return {i: corpus.question(i) if i in corpus else i for i in faq_ids}


_runtime: _Runtime | None = None


def configure(settings: Settings, connection: redis.Redis) -> None:
    """Set what the job functions use in this process (the worker calls it at start)."""
    global _runtime
    storage = Storage(connection, settings.BOT_REDIS_PREFIX)
    _runtime = _Runtime(settings, storage, make_client(settings, storage))
    for module in IN_ORDER_MODULES:
        importlib.import_module(module)


def runtime() -> _Runtime:
    if _runtime is None:
        from bot.redis_server import connect

        settings = Settings.from_env()
        configure(settings, connect(settings))
    return _runtime


def deliver_in_order(openid: str, decided_at: float, name: str, args: list) -> dict:
    """File one call in the user's mailbox, then send what the mailbox holds, oldest first.

    Returns the call's own result, or {"status": "in_order"} when another job sent it."""
    rt = runtime()
    job = get_current_job()
    own = job.id if job else uuid.uuid4().hex
    entry = json.dumps({"id": own, "f": name, "a": args}, ensure_ascii=False)
    rt.storage.mailbox_add(openid, entry, decided_at)  # once per job: a retry does not file it again
    done = []
    while True:
        deadline = time.monotonic() + MAILBOX_WAIT
        while not rt.storage.lock_mailbox(openid, own, 2 * JOB_TIMEOUT):
            if time.monotonic() >= deadline:
                raise MailboxBusy(mask_openid(openid))
            time.sleep(0.05)
        try:
            done += _drain(rt, openid)
        finally:
            rt.storage.unlock_mailbox(openid, own)
        if rt.storage.mailbox_head(openid) is None:  # nothing filed while we let go of the lock
            return next((d["result"] for d in done if d["id"] == own), {"status": "in_order"})


def _drain(rt: "_Runtime", openid: str) -> list:
    done = []
    while (head := rt.storage.mailbox_head(openid)) is not None:
        member, decided_at = head
        entry = json.loads(member)
        func = _IN_ORDER.get(entry["f"])
        if func is None or time.time() - decided_at > MAILBOX_STALE_AFTER:
            log.warning("dropped %s to %s: %s", entry["f"], mask_openid(openid),
                        "unknown call" if func is None else "too old")
            result = {"status": "stale"}
        else:
            result = func(openid, *entry["a"])  # raises: it stays at the head and RQ retries this job
        rt.storage.mailbox_done(openid, member)
        done.append({"id": entry["id"], "result": result})
    return done


@in_order
def send_custom_message(openid: str, message: dict, purpose: str = "notice", kf_account: str | None = None,
                        ticket: str | None = None, opened: tuple | None = None) -> dict:
    rt = runtime()
    if opened:
        rt.storage.ensure_budget(openid, *opened)
    payload = {"touser": openid, **message}
    if kf_account:
        payload["customservice"] = {"kf_account": kf_account}
    if not rt.storage.spend_budget(openid, keep=KEEP_FOR_MORE_URGENT.get(purpose, 0)):
        log.info("custom message %s to %s not sent: the user's allowance is used up", purpose, mask_openid(openid))
        rt.storage.record_undelivered(openid, purpose, message, "budget")
        if ticket:
            rt.storage.set_ticket_status(ticket, "budget", note=f"{purpose} not sent")
        return {"status": "budget"}
    try:
        result = rt.client.post("message/custom/send", data=payload)
    except WeChatClientException as exc:
        reason = UNDELIVERABLE.get(exc.errcode)
        if reason is None:
            log.warning("custom message %s to %s failed (%s); RQ will retry", purpose, mask_openid(openid), exc.errcode)
            raise
        log.info("custom message %s to %s not deliverable: %s", purpose, mask_openid(openid), reason)
        rt.storage.record_undelivered(openid, purpose, message, reason)
        if ticket:
            rt.storage.set_ticket_status(ticket, reason, note=f"{purpose} not delivered")
        return {"status": reason}
    if ticket:
        rt.storage.set_ticket_status(ticket, "replied" if purpose == "ticket_reply" else "notified")
    log.info("custom message %s sent to %s", purpose, mask_openid(openid))
    return {"status": "sent", "result": result}


def call_customservice(method: str, args: tuple, kwargs: dict) -> dict:
    return getattr(runtime().client.customservice, method)(*args, **kwargs)
