#!/usr/bin/env bash
# Debian's Chromium, its chromedriver and a Chinese font for the console's browser tests
# (tests/test_console_browser.py). Installed with apt-get only when one is missing: a no-op when present.
set -euo pipefail
have_font() { command -v fc-list >/dev/null && [ -n "$(fc-list :lang=zh family 2>/dev/null | head -n 1)" ]; }
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] && have_font; then
  exit 0
fi
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
echo "installing chromium, chromium-driver and fonts-wqy-microhei (apt-get) for the browser tests" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
  chromium chromium-driver fonts-wqy-microhei >/dev/null
