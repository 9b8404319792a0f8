#!/usr/bin/env bash
# Set up, then run the whole test suite (a real Redis: $REDIS_URL if set, else an embedded one).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/python -m pytest --cov=rules --cov-branch --cov-report=term-missing:skip-covered \
  --cov-fail-under=100 "$@"
