#!/usr/bin/env bash
# Set up, then run the whole test suite (a real Redis: $REDIS_URL if set, else an embedded one).
# `scripts/test.sh -m "not e2e"` leaves out the end-to-end tests: the inner loop, same gate.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
# The gate is over the total of both packages, so it holds only while each one is at 100%.
exec .venv/bin/python -m pytest --cov=rules --cov=webhooks --cov-branch \
  --cov-report=term-missing:skip-covered --cov-fail-under=100 "$@"
