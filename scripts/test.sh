#!/usr/bin/env bash
# Set up the environment from nothing if needed, then lint and run the default test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
ruff check src tests benchmarks scripts
python -m pytest -n 2 --durations=15 "$@"
