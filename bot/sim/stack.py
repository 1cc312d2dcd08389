"""Run the bot as it runs in production: gunicorn workers plus the queue worker, as processes.

Used by the end-to-end tests and by `python -m bot demo`. Everything binds
127.0.0.1; every wait is bounded.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from config.settings import PROJECT_ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BotProcesses:
    def __init__(self, env: dict[str, str], *, web_workers: int = 2, queue_worker: bool = True,
                 log_dir: str | os.PathLike | None = None, port: int | None = None, app: str = "wsgi:app"):
        self.env = {**os.environ, **env}
        #: The WSGI app gunicorn serves (module:name); benchmarks serve others the same way.
        self.app = app
        self.web_workers = web_workers
        self.queue_worker = queue_worker
        self.port = port or free_port()
        self.log_dir = Path(log_dir or self.env.get("BOT_VAR_DIR", PROJECT_ROOT / "var")) / "logs"
        self.processes: list[subprocess.Popen] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def callback_url(self) -> str:
        return self.base_url + self.env.get("BOT_ENDPOINT_PATH", "/wechat")

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{name}.log", "ab")
        proc = subprocess.Popen([sys.executable, *args], cwd=PROJECT_ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append(proc)
        return proc

    def start_web(self) -> None:
        env = {**self.env, "BOT_BIND": f"127.0.0.1:{self.port}", "WEB_CONCURRENCY": str(self.web_workers)}
        self._spawn("gunicorn", ["-m", "gunicorn", "-c", "config/gunicorn.conf.py", self.app], env)

    def start(self, timeout: float = 60.0) -> "BotProcesses":
        self.start_web()
        if self.queue_worker:
            self._spawn("worker", ["-m", "bot", "worker"], self.env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.processes):
                break
            try:
                if requests.get(self.base_url + "/healthz", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the bot did not start; see the logs in {self.log_dir}")

    def stop(self, timeout: float = 15.0) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.processes:
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout)
        self.processes.clear()

    def __enter__(self) -> "BotProcesses":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
