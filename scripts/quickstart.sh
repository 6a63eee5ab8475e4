#!/usr/bin/env bash
# Quick start: set up the environment, then run AutoPeri's main job on its embedded default.
# Until a trained generator ships, that job is the data pipeline end to end on the bundled example:
# parse, validate, cache, statistics table and histogram, and conversion to extxyz and CIF.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
out="${1:-quickstart_out}"
autoperi data info example --out "$out"
example="$(python -c 'from importlib.resources import files; print(files("autoperi") / "examples" / "textbook.csv")')"
autoperi data convert "$example" "$out/example.extxyz"
autoperi data convert "$example" "$out/cif"
echo "quick start finished: see $out/"
