"""The console's audit log: who changed what, when, one JSON object a line.

Kept next to the backups (BOT_VAR_DIR/console/audit.jsonl). A FAQ change
records the entry before and after, so it can be shown as a diff and undone.
Appends are single `write` calls on a file opened for appending, so lines from
several processes never interleave.
"""
from __future__ import annotations

import json
import time
from pathlib import Path


class AuditLog:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    def record(self, who: str, action: str, **details) -> dict:
        entry = {"at": int(time.time()), "who": who, "action": action, **details}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line)
        return entry

    def recent(self, n: int = 100) -> list[dict]:
        """Newest first, each with its line number as `seq`."""
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        out = []
        for seq in range(len(lines) - 1, max(-1, len(lines) - 1 - n), -1):
            try:
                out.append({**json.loads(lines[seq]), "seq": seq})
            except json.JSONDecodeError:
                continue
        return out

    def get(self, seq: int) -> dict | None:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
            return {**json.loads(lines[seq]), "seq": seq} if 0 <= seq < len(lines) else None
        except (FileNotFoundError, json.JSONDecodeError):
            return None
