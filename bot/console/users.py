"""The console's users file (BOT_CONSOLE_USERS): names, argon2 password hashes, roles.

    {"users": {"wang": {"hash": "$argon2id$…", "role": "editor"}}}

`editor` may change the FAQ; `viewer` may look at everything. Written by
`python -m bot console add-user` (atomically, mode 0600); read again by the
console when it changes (a removed user is logged out at the next request).
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

ROLES = ("editor", "viewer")
NAME = re.compile(r"^[A-Za-z0-9_.-]{2,32}$")
MIN_PASSWORD = 10
_hasher = PasswordHasher()
# Compared against when the name is unknown, so an unknown name costs as long as a wrong password.
_DUMMY = _hasher.hash("not-a-password-of-anyone")


def read_users(path: str | Path) -> dict[str, dict]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    users = data.get("users", {}) if isinstance(data, dict) else {}
    return {name: info for name, info in users.items()
            if isinstance(info, dict) and info.get("role") in ROLES and isinstance(info.get("hash"), str)}


def add_user(path: str | Path, name: str, password: str, role: str) -> bool:
    """Add or replace a user; True if the name was new."""
    if not NAME.match(name):
        raise ValueError("用户名只能用字母、数字和 _ . -，2–32 个字符")
    if role not in ROLES:
        raise ValueError(f"角色只能是 {' / '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"密码至少 {MIN_PASSWORD} 个字符")
    path = Path(path)
    users = read_users(path)
    new = name not in users
    users[name] = {"hash": _hasher.hash(password), "role": role}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"users": users}, fh, ensure_ascii=False, indent=2)
        fh.write("\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return new


def authenticate(users: dict[str, dict], name: str, password: str) -> str | None:
    """The user's role if the password is right, else None."""
    info = users.get(name)
    try:
        _hasher.verify(info["hash"] if info else _DUMMY, password)
    except (VerificationError, InvalidHashError):
        return None
    return info["role"] if info else None
