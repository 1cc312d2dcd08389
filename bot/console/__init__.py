"""The staff console: a Flask blueprint under BOT_CONSOLE_PATH, on only when BOT_CONSOLE_USERS is set.

Pages: the FAQ (list, search, edit, add, disable, undo — bot.console.faq_files),
"try it" (the app's router on a typed message), what users ask (unanswered
messages, per-day counters of bot.counters, charts, CSV), how agents do, and
the audit log. Security is in bot.console.security. `install(app, settings)`
is all bot.app calls.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.console.audit import AuditLog
from bot.console.faq_files import FaqFiles
from bot.console.users import read_users
from bot.reloader import ReloadingSource


@dataclass
class Console:
    files: FaqFiles
    audit: AuditLog
    users_source: ReloadingSource

    @property
    def users(self) -> dict[str, dict]:
        return self.users_source.get()


def install(app, settings) -> bool:
    """Register the console on `app` if BOT_CONSOLE_USERS is set; True if it was."""
    if not settings.BOT_CONSOLE_USERS:
        return False
    from bot.console import security
    from bot.console.views import make_blueprint

    path = settings.BOT_CONSOLE_PATH.rstrip("/")
    if not path.startswith("/") or path in (settings.BOT_ENDPOINT_PATH.rstrip("/"), "/healthz"):
        raise ValueError(f"BOT_CONSOLE_PATH {settings.BOT_CONSOLE_PATH!r} must be a path of its own, like /console")
    var = Path(settings.BOT_VAR_DIR) / "console"
    users_file = Path(settings.BOT_CONSOLE_USERS)
    app.extensions["wxbot_console"] = Console(
        files=FaqFiles(settings.BOT_FAQ_DIR, settings.BOT_BRAND_FILE, var / "backups"),
        audit=AuditLog(var / "audit.jsonl"),
        users_source=ReloadingSource(lambda: [users_file], lambda: read_users(users_file),
                                     interval=settings.BOT_RELOAD_INTERVAL, name="console users"))
    security.install(app, settings)
    app.register_blueprint(make_blueprint(), url_prefix=path)
    return True
