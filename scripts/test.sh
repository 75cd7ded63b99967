#!/usr/bin/env bash
# The project's test command (README, .ci/run): the Rust workspace's tests, then the Python
# package's (built from this checkout into a fresh virtual environment, tested with pytest and
# type-checked with mypy; scripts/python-tests.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace
# The Python tests compare with the CLI built just above.
BEZOAR_BIN="$PWD/target/debug/bezoar" scripts/python-tests.sh
