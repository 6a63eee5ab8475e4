#!/usr/bin/env bash
# Quick start: set up the environment, then run AutoPeri's main job on its embedded default:
# 100 new MP-20-like crystals from the shipped default model (composition first, then each structure by
# template retrieval or the MP-20 CSP flow), written as CIFs, extxyz and summary.csv with each crystal's
# structural and compositional validity.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
out="${1:-quickstart_out}"
autoperi sample -n 100 --seed 0 --out "$out"
echo "quick start finished: see $out/ (validity per crystal in $out/summary.csv)"
