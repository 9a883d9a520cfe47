#!/usr/bin/env bash
# One call on a CUDA machine: a paper-scale slice of one image data set plus step timings,
# everything written under one folder. The machine needs no Rust toolchain: build the binary here
#   cargo build --release -p experiments --features cuda
# and carry it with the data folder (data/ with mnist/, fashion-mnist/, models/classifier/*.bin).
#
# usage: scripts/gpu-paper-slice.sh BIN DATA_DIR OUT_DIR [DATASET=mnist] [EPOCHS=10]
#   DATASET: mnist | fashion-mnist | cifar10   EPOCHS: how many of the paper profile's epochs
# Writes OUT_DIR/{runs,figures,configs,log.txt,nvidia-smi.txt,timing.txt}.
set -euo pipefail
BIN=${1:?binary built with --features cuda}
DATA=${2:?data folder}
OUT=${3:?output folder}
SET=${4:-mnist}
EPOCHS=${5:-10}
HERE="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$OUT"
export GAN_DATA_DIR="$DATA" GAN_RUNS_DIR="$OUT/runs"
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || true

# The paper profile's settings with only DATASET, cut to EPOCHS epochs (the run store keys on the
# settings, so this slice is its own run).
mkdir -p "$OUT/configs"
cp "$HERE"/experiments/configs/*.yaml "$OUT/configs/"
awk -v set="$SET" -v ep="$EPOCHS" '
  /^profiles:/ { inprof = 1 }
  /^datasets:/ && !inprof { print; indata = 1; next }
  indata && /^  [a-z0-9-]+: \{/ {
    name = $1; sub(":", "", name)
    if (name == set) { sub(/epochs: [0-9]+/, "epochs: " ep); print }
    next
  }
  { indata = 0; print }
' "$HERE/experiments/configs/images.yaml" > "$OUT/configs/images.yaml"

{
  echo "== step timings (bench train, cuda)"
  ( time "$BIN" bench train --backend cuda ) 2>&1 || echo "bench train failed"
  echo "== paper-scale slice: $SET, $EPOCHS epochs, --backend cuda"
  ( time "$BIN" fig5 fig6 fig17 fig19 detector-images --profile paper --backend cuda \
      --config-dir "$OUT/configs" --out "$OUT/figures" ) 2>&1 || echo "items failed"
} 2>&1 | tee "$OUT/log.txt"
find "$OUT/runs" -name finished.yaml -exec sh -c 'echo "== $1"; cat "$1"' _ {} \; > "$OUT/timing.txt" 2>/dev/null || true
