"""`python -m bot console add-user NAME --role editor|viewer`: accounts of the staff console.

Writes BOT_CONSOLE_USERS (or `--file`) with an argon2 hash of the password,
read from the terminal without echo, or from standard input with
`--password-stdin` (one line, for scripts).
"""
from __future__ import annotations

import getpass
import sys

from config.settings import Settings


def register(subparsers) -> None:
    parser = subparsers.add_parser("console", help="staff console accounts")
    sub = parser.add_subparsers(dest="console_command", metavar="ACTION", required=True)
    add = sub.add_parser("add-user", help="add a console user, or set a user's password and role")
    add.add_argument("name")
    add.add_argument("--role", choices=("editor", "viewer"), default="viewer",
                     help="editor changes the FAQ; viewer only looks (default)")
    add.add_argument("--file", help="users file (default: BOT_CONSOLE_USERS)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.set_defaults(func=run_add_user)


def run_add_user(args) -> int:
    from bot.console.users import add_user

    path = args.file or Settings.from_env().BOT_CONSOLE_USERS
    if not path:
        print("请用 --file 指定用户文件，或设置 BOT_CONSOLE_USERS。", file=sys.stderr)
        return 2
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("密码：")
        if getpass.getpass("再输一次：") != password:
            print("两次输入的密码不一样。", file=sys.stderr)
            return 1
    try:
        new = add_user(path, args.name, password, args.role)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"{'已添加' if new else '已更新'}用户 {args.name}（{args.role}）：{path}")
    return 0
