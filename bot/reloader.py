"""Hot reload of staff-edited files (FAQ corpus, registry of official channels).

A `ReloadingSource` wraps a loader function over a set of files. Each `get()`
checks, at most every `interval` seconds, whether any file changed (mtime,
size, names); if so it runs the loader. A loader that raises leaves the last
good value in place and records the error, so a bad edit never takes the bot
down; `error` tells /healthz and the CLI what is wrong. Every gunicorn worker
holds its own source, so an edit reaches all of them within `interval`.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Callable, Generic, Iterable, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


def _fingerprint(paths: Iterable[Path]) -> tuple:
    out = []
    for path in sorted(paths):
        try:
            st = path.stat()
            out.append((str(path), st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((str(path), None, None))
    return tuple(out)


class ReloadingSource(Generic[T]):
    def __init__(self, list_files: Callable[[], Iterable[Path]], load: Callable[[], T],
                 interval: float = 2.0, name: str = "source"):
        self._list_files = list_files
        self._load = load
        self.interval = interval
        self.name = name
        self._lock = threading.Lock()
        self._value: T | None = None
        self._fingerprint: tuple | None = None
        self._checked_at = 0.0
        self.error: str | None = None
        self.loaded_at: float | None = None
        self._refresh(force=True)

    def _refresh(self, force: bool = False) -> None:
        fingerprint = _fingerprint(self._list_files())
        if not force and fingerprint == self._fingerprint:
            return
        try:
            value = self._load()
        except Exception as exc:  # any bad edit: keep serving the last good value
            self.error = f"{type(exc).__name__}: {exc}"
            log.error("%s reload failed, keeping the last good version: %s", self.name, self.error)
            if self._value is None:
                raise
        else:
            self._value = value
            self.error = None
            self.loaded_at = time.time()
            if self._fingerprint is not None:
                log.info("%s reloaded", self.name)
        self._fingerprint = fingerprint

    def get(self) -> T:
        now = time.monotonic()
        if now - self._checked_at >= self.interval and self._lock.acquire(blocking=False):
            try:
                self._checked_at = now
                self._refresh()
            finally:
                self._lock.release()
        return self._value  # type: ignore[return-value]


def read_json(path) -> object:
    """A loader for ReloadingSource: one JSON file."""
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)
