"""Shared by the console tests: a bot with the console on, over a copy of faq_data/ and two users."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

from bot import create_app
from bot.console.users import add_user
from tests.helpers import bot_settings

ROOT = Path(__file__).resolve().parent.parent
EDITOR, VIEWER, PASSWORD = "wang", "li", "correct horse battery"


def console_app(redis_url: str, tmp: Path, **extra):
    """An app with the console on; its FAQ files are a copy under `tmp` (staff may break them)."""
    faq_dir = tmp / "faq"
    shutil.copytree(ROOT / "faq_data", faq_dir)
    users = tmp / "users.json"
    add_user(users, EDITOR, PASSWORD, "editor")
    add_user(users, VIEWER, PASSWORD, "viewer")
    settings = bot_settings(redis_url, BOT_FAQ_DIR=faq_dir, BOT_CONSOLE_USERS=users, BOT_VAR_DIR=tmp / "var",
                            BOT_RELOAD_INTERVAL=0.2, **extra)
    return create_app(settings)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def log_in(client, name: str = EDITOR, password: str = PASSWORD):
    token = csrf_of(client.get("/console/login").get_data(as_text=True))
    return client.post("/console/login", data={"csrf": token, "username": name, "password": password})
