"""Every Redis key the bot uses, and the only module that names one.

All keys start with one prefix (``BOT_REDIS_PREFIX``, default ``wxbot``).

=================================  ==========  ===============================================
key                                TTL         what
=================================  ==========  ===============================================
``{p}:nonce:{nonce}``              2×window    nonce of an accepted push (replay refusal)
``{p}:reply:{dedupe}``             120 s       reply to a push (``pending`` while handled),
                                               so WeChat's retries get the identical answer
``{p}:conv:{openid}``              600 s       dialogue state (clarification choices,
                                               fallbacks in a row), JSON
``{p}:kf:{openid}``                1800 s      agent session state: waiting / active, agent,
                                               since (WeChat stops forwarding after 30 min)
``{p}:unmatched``                  none        sorted set: masked unmatched text -> count
``{p}:wechatpy:{appid}_access_token``  expires_in-300  the shared WeChat access token
``{p}:token-lock``                 10 s        one process at a time fetches the token
``{p}:rq:…``                       RQ's own    the outbound job queue (RQ manages these)
=================================  ==========  ===============================================

Methods raise ``redis.RedisError`` when Redis is unreachable; the endpoint
decides how to degrade.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict

import redis

from bot.decision import Conversation

PENDING = b"pending"
REPLY_TTL = 120
CONVERSATION_TTL = 600
KF_SESSION_TTL = 1800
TOKEN_LOCK_TTL = 10


class Storage:
    def __init__(self, client: redis.Redis, prefix: str = "wxbot"):
        self.redis = client
        self.prefix = prefix

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    # --- health -------------------------------------------------------------------------
    def ping(self) -> bool:
        return bool(self.redis.ping())

    # --- replay protection ---------------------------------------------------------------
    def remember_nonce(self, nonce: str, ttl: int) -> bool:
        """True if the nonce is new (and is now remembered), False if it was seen."""
        return bool(self.redis.set(self.key("nonce", nonce), 1, nx=True, ex=max(1, ttl)))

    # --- one handling per push, identical answers to retries -------------------------------
    def claim_message(self, dedupe_key: str, ttl: int = REPLY_TTL) -> bool:
        """True for the first delivery of a push: the caller handles it and stores the reply."""
        return bool(self.redis.set(self.key("reply", dedupe_key), PENDING, nx=True, ex=ttl))

    def store_reply(self, dedupe_key: str, body: bytes, content_type: str, ttl: int = REPLY_TTL) -> None:
        payload = json.dumps({"ct": content_type, "body": body.decode("utf-8")})
        self.redis.set(self.key("reply", dedupe_key), payload, ex=ttl)

    def release_message(self, dedupe_key: str) -> None:
        """Forget a claim whose handling failed, so a retry can try again."""
        self.redis.delete(self.key("reply", dedupe_key))

    def get_reply(self, dedupe_key: str) -> tuple[bytes, str] | None | bytes:
        """The stored (body, content_type); PENDING while the first copy is handled; None if unknown."""
        raw = self.redis.get(self.key("reply", dedupe_key))
        if raw is None or raw == PENDING:
            return raw
        data = json.loads(raw)
        return data["body"].encode("utf-8"), data["ct"]

    def wait_reply(self, dedupe_key: str, timeout: float, poll: float = 0.02) -> tuple[bytes, str] | None:
        """Wait (bounded) for the reply the first copy of a push is producing."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.get_reply(dedupe_key)
            if isinstance(found, tuple):
                return found
            if found is None or time.monotonic() >= deadline:
                return None
            time.sleep(poll)

    # --- dialogue state ---------------------------------------------------------------------
    def load_conversation(self, openid: str) -> Conversation:
        raw = self.redis.get(self.key("conv", openid))
        if not raw:
            return Conversation()
        data = json.loads(raw)
        data["pending_choices"] = tuple(data.get("pending_choices", ()))
        return Conversation(**data)

    def save_conversation(self, openid: str, conversation: Conversation, ttl: int = CONVERSATION_TTL) -> None:
        self.redis.set(self.key("conv", openid), json.dumps(asdict(conversation), ensure_ascii=False), ex=ttl)

    # --- agent sessions (kf) ------------------------------------------------------------------
    def set_kf_session(self, openid: str, state: str, account: str = "", ttl: int = KF_SESSION_TTL) -> None:
        key = self.key("kf", openid)
        with self.redis.pipeline() as pipe:
            pipe.delete(key)
            pipe.hset(key, mapping={"state": state, "account": account or "", "since": int(time.time())})
            pipe.expire(key, ttl)
            pipe.execute()

    def get_kf_session(self, openid: str) -> dict[str, str] | None:
        data = self.redis.hgetall(self.key("kf", openid))
        if not data:
            return None
        return {k.decode(): v.decode() for k, v in data.items()}

    def touch_kf_session(self, openid: str, ttl: int = KF_SESSION_TTL) -> None:
        self.redis.expire(self.key("kf", openid), ttl)

    def clear_kf_session(self, openid: str) -> None:
        self.redis.delete(self.key("kf", openid))

    # --- a user's whole state (unsubscribe) -----------------------------------------------------
    def clear_user(self, openid: str) -> None:
        self.redis.delete(self.key("conv", openid), self.key("kf", openid))

    # --- unmatched messages, for staff -----------------------------------------------------------
    def count_unmatched(self, masked_text: str) -> None:
        self.redis.zincrby(self.key("unmatched"), 1, masked_text[:200])

    def top_unmatched(self, n: int = 20) -> list[tuple[str, int]]:
        rows = self.redis.zrevrange(self.key("unmatched"), 0, max(0, n - 1), withscores=True)
        return [(text.decode("utf-8"), int(score)) for text, score in rows]

    # --- the WeChat access token ---------------------------------------------------------------
    def token_prefix(self) -> str:
        """Prefix for wechatpy's RedisStorage: the token lives at {prefix}:{appid}_access_token."""
        return self.key("wechatpy")

    def acquire_token_lock(self, ttl: int = TOKEN_LOCK_TTL) -> bool:
        return bool(self.redis.set(self.key("token-lock"), 1, nx=True, ex=ttl))

    def release_token_lock(self) -> None:
        self.redis.delete(self.key("token-lock"))
