"""Hot reload of staff-edited files (FAQ corpus, registry of official channels).

A `ReloadingSource` wraps a loader function over a set of files. A timer
thread checks, every `interval` seconds, whether any file changed (mtime,
size, names) and if so runs the loader, so every process switches to an edit
within `interval` even when no request comes (`get()` checks too, at most as
often, and with an interval of 0 it checks on every call, without a thread).
A loader that raises leaves the last good value in place and records the
error, so a bad edit never takes the bot down; `error` tells /healthz and the
CLI what is wrong. `version` is a hash of the bytes of the files the served
value was loaded from: processes that agree on it serve the same edit.

Anything that must follow an edit (a model trained on the corpus, say) is a
loader over the same files, or calls `get()` of a source in its own loader.
Timer threads do not survive a fork; they are started again in the child.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import weakref
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


def _content_hash(paths: Iterable[Path]) -> str:
    """A short hash of the names and bytes of `paths` (a missing file counts as empty)."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(str(path).encode("utf-8") + b"\0")
        try:
            digest.update(path.read_bytes())
        except OSError:
            pass
        digest.update(b"\0")
    return digest.hexdigest()[:12]


#: Every source with a timer thread in this process, to start the threads again after a fork.
_TIMED: "weakref.WeakSet[ReloadingSource]" = weakref.WeakSet()


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
        #: Hash of the files the served value was loaded from (see the module doc).
        self.version: str | None = None
        self._refresh(force=True)
        if interval > 0:
            _TIMED.add(self)
            self._start_timer()

    def _refresh(self, force: bool = False) -> None:
        paths = list(self._list_files())
        fingerprint = _fingerprint(paths)
        if not force and fingerprint == self._fingerprint:
            return
        version = _content_hash(paths)
        try:
            value = self._load()
        except Exception as exc:  # any bad edit: keep serving the last good value
            self.error = f"{type(exc).__name__}: {exc}"
            log.error("%s reload failed, keeping the last good version: %s", self.name, self.error)
            if self._value is None:
                raise
        else:
            if _fingerprint(paths) != fingerprint:  # edited while loading: load again next time
                fingerprint = None
            self._value = value
            self.error = None
            self.loaded_at = time.time()
            self.version = version
            if self._fingerprint is not None:
                log.info("%s reloaded (version %s)", self.name, version)
        self._fingerprint = fingerprint

    def check(self) -> None:
        """Reload now if a file changed and no other thread is checking."""
        if self._lock.acquire(blocking=False):
            try:
                self._checked_at = time.monotonic()
                self._refresh()
            except Exception:  # only the first load may raise; the timer must go on
                log.exception("%s check failed", self.name)
            finally:
                self._lock.release()

    def get(self) -> T:
        if time.monotonic() - self._checked_at >= self.interval:
            self.check()
        return self._value  # type: ignore[return-value]

    def status(self) -> dict:
        """For /healthz: the version served, when it was loaded, and the last load error."""
        return {"version": self.version, "loaded_at": self.loaded_at, "error": self.error}

    def _start_timer(self) -> None:
        thread = threading.Thread(target=_tick, args=(weakref.ref(self), self.interval),
                                  name=f"reload {self.name}", daemon=True)
        thread.start()


def _tick(ref: "weakref.ref[ReloadingSource]", interval: float) -> None:
    """The timer thread of one source; it ends when the source is garbage."""
    while True:
        time.sleep(interval)
        source = ref()
        if source is None:
            return
        if time.monotonic() - source._checked_at >= interval * 0.5:
            source.check()
        del source


def _restart_timers_after_fork() -> None:
    for source in list(_TIMED):
        source._lock = threading.Lock()  # a parent thread may have held it at the fork
        source._start_timer()


os.register_at_fork(after_in_child=_restart_timers_after_fork)


def read_json(path) -> object:
    """A loader for ReloadingSource: one JSON file."""
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)
