"""The WeChat API client, wired for production and the fake WeChat alike.

wechatpy hard-codes ``https://api.weixin.qq.com`` for the token and kf URLs, so
`ApiBaseSession` rewrites that origin to ``WECHAT_API_BASE_URL`` on every
request: the fake WeChat is reached through the same code path as the real one.

`SharedTokenClient` keeps one access token for every worker and host in Redis
(wechatpy's RedisStorage under the bot's prefix). A new fetch invalidates the
previous token at WeChat, so fetching is serialised by a Redis lock and a
process that loses the race uses the winner's token. The stored token expires
five minutes before WeChat's deadline so it is renewed inside the overlap.
wechatpy's own auto-retry recurses without bound on 40001; it is off, and a
token error is answered by one refresh and one retry.
"""
from __future__ import annotations

import logging
import time

import requests
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.session.redisstorage import RedisStorage

from bot.storage import Storage
from config.settings import WECHAT_API_DEFAULT

log = logging.getLogger(__name__)

TOKEN_ERRORS = frozenset({40001, 40014, 42001})
#: Renew the shared token this long before WeChat's expiry (inside the 5-minute overlap).
TOKEN_EARLY_RENEWAL = 300


class ApiBaseSession(requests.Session):
    """A requests session that sends WeChat API calls to another origin, with a default timeout."""

    def __init__(self, base_url: str = WECHAT_API_DEFAULT, timeout: float = 5.0):
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.default_timeout = timeout

    def request(self, method, url, *args, **kwargs):
        if url.startswith(WECHAT_API_DEFAULT) and self.base_url != WECHAT_API_DEFAULT:
            url = self.base_url + url[len(WECHAT_API_DEFAULT):]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        return super().request(method, url, *args, **kwargs)


class SharedTokenClient(WeChatClient):
    def __init__(self, appid: str, secret: str, storage: Storage,
                 api_base_url: str = WECHAT_API_DEFAULT, timeout: float = 5.0,
                 lock_wait: float = 5.0):
        super().__init__(appid, secret, session=RedisStorage(storage.redis, prefix=storage.token_prefix()),
                         timeout=timeout, auto_retry=False)
        self.API_BASE_URL = api_base_url.rstrip("/") + "/cgi-bin/"
        self._http = ApiBaseSession(api_base_url, timeout)
        self.storage = storage
        self.lock_wait = lock_wait

    @property
    def access_token(self) -> str:
        token = self.session.get(self.access_token_key)
        if token:
            return token
        self.fetch_access_token()
        return self.session.get(self.access_token_key)

    def fetch_access_token(self):
        """Fetch a token unless another process is doing it; then use theirs."""
        deadline = time.monotonic() + self.lock_wait
        while not self.storage.acquire_token_lock():
            if self.session.get(self.access_token_key):
                return None
            if time.monotonic() >= deadline:
                break  # the holder died: fetch anyway rather than fail the call
            time.sleep(0.05)
        try:
            if self.session.get(self.access_token_key):
                return None
            result = super().fetch_access_token()
            expires_in = int(result.get("expires_in", 7200))
            ttl = max(60, expires_in - TOKEN_EARLY_RENEWAL)
            self.storage.redis.expire(self.session.key_name(self.access_token_key), ttl)
            log.info("fetched a new WeChat access token (valid %ss, renewed after %ss)", expires_in, ttl)
            return result
        finally:
            self.storage.release_token_lock()

    def invalidate_token(self, token: str | None) -> None:
        """Drop the stored token if it is still `token` (another process may have renewed it)."""
        key = self.session.key_name(self.access_token_key)
        with self.storage.redis.pipeline() as pipe:
            try:
                pipe.watch(key)
                if self.session.get(self.access_token_key) == token:
                    pipe.multi()
                    pipe.delete(key)
                    pipe.execute()
            except Exception:  # WatchError: someone renewed it meanwhile, which is what we want
                pass

    def _request(self, method, url_or_endpoint, **kwargs):
        params = dict(kwargs.get("params") or {})
        data = kwargs.get("data")
        if "access_token" not in params:
            params["access_token"] = self.access_token  # a failed fetch raises here, not retried
        used_token = params["access_token"]
        try:
            return super()._request(method, url_or_endpoint, **{**kwargs, "params": params})
        except WeChatClientException as exc:
            if exc.errcode not in TOKEN_ERRORS:
                raise
            log.warning("WeChat rejected the access token (%s); refreshing once", exc.errcode)
            self.invalidate_token(used_token)
            retry_params = dict(params)
            retry_params["access_token"] = self.access_token
            return super()._request(method, url_or_endpoint, **{**kwargs, "params": retry_params, "data": data})


def make_client(settings, storage: Storage) -> SharedTokenClient:
    return SharedTokenClient(settings.WECHAT_APP_ID, settings.WECHAT_APP_SECRET, storage,
                             api_base_url=settings.WECHAT_API_BASE_URL, timeout=settings.BOT_API_TIMEOUT)
