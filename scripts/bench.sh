#!/usr/bin/env bash
# Set up, then run every benchmark against its baseline on this machine and write BENCHMARKS.md.
# Everything runs on 127.0.0.1 with bounded sizes and stops by itself (a few minutes).
# Extra arguments go to `python -m bench` (e.g. --quick, --only webhook_ack, --output FILE).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/python -m bench "$@"
