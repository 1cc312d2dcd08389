"""The console's locks: session cookie, login, roles, CSRF, and the proxy it may trust.

* The session is Flask's signed cookie, named for the console and scoped to
  its path: HttpOnly, SameSite=Strict, Secure whenever the request came over
  TLS (as seen by the socket, or by X-Forwarded-Proto when BOT_CONSOLE_PROXIES
  says a proxy is trusted). It holds the user name, role, CSRF token and login time.
* CSRF: a random token per session, put in every form, compared in constant
  time on every POST; a cross-site Origin is refused too. Written here rather
  than taken from Flask-WTF: the console has plain HTML forms and no need for
  WTForms, and the check is these few lines.
* ProxyFix is applied to the console's paths only, so nothing a client sends
  in X-Forwarded-* reaches the WeChat callback or /healthz.
"""
from __future__ import annotations

import hmac
import os
import secrets
import time
from functools import wraps
from pathlib import Path
from urllib.parse import urlsplit

from flask import abort, request, session
from flask.sessions import SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

COOKIE_NAME = "wxbot_console"


class ConsoleSessions(SecureCookieSessionInterface):
    """Sessions for the console's paths only: other requests (the WeChat callback) get none."""

    def __init__(self, prefix: str):
        self.prefix = prefix.rstrip("/")

    def open_session(self, app, request):
        path = request.path
        if path != self.prefix and not path.startswith(self.prefix + "/"):
            return None
        return super().open_session(app, request)

    def get_cookie_secure(self, app) -> bool:
        return request.is_secure or bool(app.config.get("SESSION_COOKIE_SECURE"))


class ProxyFixUnder:
    """ProxyFix for requests under `prefix`; every other request passes as it came."""

    def __init__(self, app, prefix: str, proxies: int):
        self.app = app
        self.fixed = ProxyFix(app, x_for=proxies, x_proto=proxies, x_host=0, x_prefix=0)
        self.prefix = prefix.rstrip("/")

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == self.prefix or path.startswith(self.prefix + "/"):
            return self.fixed(environ, start_response)
        return self.app(environ, start_response)


def session_secret(configured: str, var_dir: str | Path) -> str:
    """BOT_CONSOLE_SECRET, or a key made once and shared by every process through a file."""
    if configured:
        return configured
    path = Path(var_dir) / "console" / "secret.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    for _ in range(50):  # another process may be writing it this instant
        key = path.read_text().strip()
        if key:
            return key
        time.sleep(0.01)
    raise RuntimeError(f"console secret file {path} is empty")


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def check_csrf() -> None:
    """Refuse a POST without this session's token, or from another site."""
    origin = request.headers.get("Origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.host:
        abort(400, description="csrf")
    sent = request.form.get("csrf", "")
    expected = session.get("csrf", "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        abort(400, description="csrf")


def start_session(name: str, role: str) -> None:
    session.clear()  # a new cookie: nothing from before the login survives
    session.permanent = True
    session.update(user=name, role=role, at=int(time.time()), csrf=secrets.token_urlsafe(32))


def current_user(users: dict[str, dict], hours: int) -> tuple[str, str] | None:
    """(name, role) of a live login; a removed user, a changed role or an old login is logged out."""
    name, role, at = session.get("user"), session.get("role"), session.get("at", 0)
    info = users.get(name) if name else None
    if not info or info.get("role") != role or time.time() - at > hours * 3600:
        if name:
            session.clear()
        return None
    return name, role


def editor_only(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        if session.get("role") != "editor":
            abort(403)
        return view(*args, **kwargs)
    return wrapped


def client_address() -> str:
    return request.remote_addr or "-"


def cookie_settings(settings) -> dict:
    path = settings.BOT_CONSOLE_PATH.rstrip("/") or "/"
    return {"SESSION_COOKIE_NAME": COOKIE_NAME, "SESSION_COOKIE_PATH": path, "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Strict", "PERMANENT_SESSION_LIFETIME": settings.BOT_CONSOLE_SESSION_HOURS * 3600}


def install(app, settings) -> None:
    app.config.update(cookie_settings(settings))
    app.config["SECRET_KEY"] = session_secret(settings.BOT_CONSOLE_SECRET, settings.BOT_VAR_DIR)
    app.session_interface = ConsoleSessions(settings.BOT_CONSOLE_PATH)
    if settings.BOT_CONSOLE_PROXIES > 0:
        app.wsgi_app = ProxyFixUnder(app.wsgi_app, settings.BOT_CONSOLE_PATH, settings.BOT_CONSOLE_PROXIES)
