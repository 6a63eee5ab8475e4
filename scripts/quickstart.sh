#!/usr/bin/env bash
# Quick start: set up the environment, then generate 100 crystals with the shipped MP-20 model.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
out="${1:-quickstart_out}"
autoperi sample -n 100 --seed 0 --out "$out"
echo "quick start finished: CIFs, samples.extxyz and summary.csv are in $out/"
