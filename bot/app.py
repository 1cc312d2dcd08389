"""The application factory and the services one app holds.

`create_app()` reads `Settings` (environment variables), connects Redis
(starting the embedded server when REDIS_URL is unset), builds the router and
the outbox, and registers the WeChat endpoint and /healthz (and the staff
console when BOT_CONSOLE_USERS is set). Each gunicorn worker calls it once;
everything shared between workers lives in Redis.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TypeVar

from flask import Flask
from redis import Redis
from werkzeug.exceptions import HTTPException
from wechatpy.crypto import WeChatCrypto

import handlers
from bot import __version__, console
from bot.hours import ServiceHours
from bot.jobs import Outbox
from bot.redis_server import Breaker
from bot.reloader import ReloadingSource, read_json
from bot.masking import install_log_masking
from bot.storage import Storage
from config.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class Services:
    settings: Settings
    redis: Redis
    storage: Storage
    outbox: Outbox
    router: object                   # bot.router.Router
    crypto: WeChatCrypto | None
    brand_source: object             # ReloadingSource of the brand facts (dict)
    hours_source: object             # ReloadingSource of bot.hours.ServiceHours
    breaker: Breaker = field(default_factory=Breaker)
    #: Staff-edited files besides the FAQ, for /healthz: name -> ReloadingSource.
    sources: dict = field(default_factory=dict)

    @property
    def brand(self) -> dict:
        return self.brand_source.get()

    @property
    def hours(self):
        return self.hours_source.get()

    def best_effort(self, action: Callable[[], T], default: T) -> T:
        """Run a Redis action; when Redis is down (or just was), carry on with `default`."""
        return self.breaker.run(action, default)


def configure_logging(settings: Settings) -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=settings.BOT_LOG_LEVEL,
                            format="%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s")
    root.setLevel(settings.BOT_LOG_LEVEL)
    install_log_masking(root)


def build_services(settings: Settings, **overrides) -> Services:
    from bot.channels import registry_source
    from bot.redis_server import connect
    from bot.router import build_router, default_prechecks

    client = overrides.pop("redis", None) or connect(settings)
    storage = Storage(client, settings.BOT_REDIS_PREFIX)
    crypto = None
    if settings.aes_enabled:
        crypto = WeChatCrypto(settings.WECHAT_TOKEN, settings.WECHAT_ENCODING_AES_KEY, settings.WECHAT_APP_ID)
    channels = registry_source(settings)
    router = overrides.pop("router", None) or build_router(settings, prechecks=default_prechecks(settings, channels))
    def watched(name: str, path: str, load) -> ReloadingSource:
        return ReloadingSource(lambda: [Path(path)], lambda: load(path), settings.BOT_RELOAD_INTERVAL, name=name)

    brand = watched("brand", settings.BOT_BRAND_FILE, read_json)
    hours = watched("service hours", settings.BOT_HOURS_FILE, ServiceHours.load)
    breaker = Breaker(settings.BOT_REDIS_RETRY)
    return Services(settings=settings, redis=client, storage=storage,
                    outbox=Outbox(client, settings.BOT_QUEUE_NAME, breaker), router=router,
                    crypto=crypto, brand_source=brand, hours_source=hours, breaker=breaker,
                    sources={"official_channels": channels, "service_hours": hours, "brand": brand}, **overrides)


def create_app(settings: Settings | None = None, **overrides) -> Flask:
    settings = settings or Settings.from_env()
    configure_logging(settings)
    if not settings.WECHAT_TOKEN:
        log.error("WECHAT_TOKEN is not set: every push will be refused")
    app = Flask("bot")
    app.config.from_object(settings)
    app.config["MAX_CONTENT_LENGTH"] = settings.BOT_MAX_BODY_BYTES
    handlers.load_all()
    app.extensions["wxbot"] = build_services(settings, **overrides)

    from bot.endpoint import CallbackFastPath, make_blueprint, plain_http_error, unhandled_error

    app.register_blueprint(make_blueprint(settings.BOT_ENDPOINT_PATH))
    app.register_error_handler(HTTPException, plain_http_error)
    app.register_error_handler(Exception, lambda exc: unhandled_error())
    app.wsgi_app = CallbackFastPath(app.wsgi_app, app.extensions["wxbot"], settings.BOT_ENDPOINT_PATH,
                                    settings.BOT_MAX_BODY_BYTES)
    console.install(app, settings)

    log.info("bot %s ready on %s (%s mode, redis %s)", __version__, settings.BOT_ENDPOINT_PATH,
             "aes+plaintext" if settings.aes_enabled else "plaintext",
             "external" if settings.REDIS_URL else "embedded")
    return app
