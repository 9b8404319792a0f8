#!/usr/bin/env bash
# Create .venv (once) with Python 3.11+ and install changeguard into it from the lock file:
# the exact, hash-checked versions of requirements-dev.lock (the product, the demo's parts and
# the test tools), then changeguard itself in editable mode. A stamp in .venv skips all of it
# while requirements-dev.lock and pyproject.toml are unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "changeguard needs Python 3.11 or newer: set PYTHON=/path/to/python3.11" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
# Installed already from this very lock and pyproject.toml: nothing to do (no network either).
stamp=.venv/.changeguard-installed
wanted=$(cat requirements-dev.lock pyproject.toml | "$python" -c \
  'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
  exit 0
fi
rm -f "$stamp"
pip=(.venv/bin/python -m pip --quiet --disable-pip-version-check)
"${pip[@]}" install --upgrade pip
"${pip[@]}" install --require-hashes --requirement requirements-dev.lock
"${pip[@]}" install --no-deps --editable '.[dev]'
echo "$wanted" > "$stamp"
