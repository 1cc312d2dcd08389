#!/usr/bin/env bash
# README command 2: set up, then run the whole test suite (real Redis, multi-worker gunicorn, fake WeChat,
# and the staff console in headless Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
bash tools/browser.sh
exec .venv/bin/python -m pytest -q "$@"
