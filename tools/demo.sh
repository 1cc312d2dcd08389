#!/usr/bin/env bash
# README command 1: set up, then run the bot with a local fake WeChat and chat with it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
exec .venv/bin/python -m bot demo "$@"
