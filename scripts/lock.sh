#!/usr/bin/env bash
# Refresh the lock files from pyproject.toml: exact versions with hashes, for Python 3.11+ on any
# platform. requirements.lock is what production installs; requirements-dev.lock adds the demo
# and test extras and is what scripts/bootstrap.sh installs. Commit both after running this.
# Extra arguments go to `uv pip compile` (e.g. --upgrade, or --upgrade-package rq).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
uv_version=0.13.9
if [ ! -x .venv-tools/bin/uv ] || [ "$(.venv-tools/bin/uv --version | cut -d' ' -f2)" != "$uv_version" ]; then
  "$python" -m venv .venv-tools
  .venv-tools/bin/python -m pip install --quiet --disable-pip-version-check "uv==$uv_version"
fi
compile() {
  .venv-tools/bin/uv pip compile pyproject.toml --quiet --universal --python-version 3.11 \
    --generate-hashes --no-emit-package changeguard --custom-compile-command scripts/lock.sh "$@"
}
compile --output-file requirements.lock "$@"
compile --extra dev --output-file requirements-dev.lock "$@"
