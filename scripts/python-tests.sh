#!/usr/bin/env bash
# Build and install the Python package into a fresh virtualenv, type-check it, and run its
# tests. Usage: scripts/python-tests.sh [VENV_DIR]   (default: $TMPDIR/bezoar-pyenv)
#
# `pip install .` builds the native module with maturin (a release build of crates/bezoar-py),
# exactly as a user's install does. The tests compare with the CLI named by BEZOAR_BIN
# (default target/debug/bezoar when it exists; those comparisons skip when there is none).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v python3 > /dev/null 2>&1; then
  echo "python-tests: skipped, python3 is not installed" >&2
  exit 0
fi

venv=${1:-${TMPDIR:-/tmp}/bezoar-pyenv}
# A fresh environment every run: a wheel left from an earlier build must not be what is tested.
rm -rf "$venv"
python3 -m venv "$venv"
py="$venv/bin/python"

"$py" -m pip install --quiet --upgrade pip
"$py" -m pip install ./
"$py" -m pip install --quiet pytest mypy pandas polars datasets

"$py" -m mypy --strict python/bezoar
"$py" -m mypy python/tests

if [ -z "${BEZOAR_BIN:-}" ]; then
  if [ -x target/debug/bezoar ]; then
    export BEZOAR_BIN=target/debug/bezoar
  else
    echo "python-tests: no target/debug/bezoar and BEZOAR_BIN unset; CLI comparisons will skip" >&2
  fi
fi
# From the repository root the tests import the installed package: python/ is not on sys.path.
"$py" -m pytest -q python/tests
