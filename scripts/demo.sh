#!/usr/bin/env bash
# Set up, then run changeguard on embedded defaults (sandbox Jira, embedded Redis) with a walkthrough.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/changeguard demo "$@"
