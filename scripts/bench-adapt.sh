#!/usr/bin/env bash
# Adaptive BN on a synthetic camera: the crops of scripts/bench-distill.sh made darker,
# flatter and 24 px wide; adapts SFace and the `crop` student to them with `squint adapt`
# and compares original and adapted models (scripts/bench_adapt.py). Run
# scripts/bench-distill.sh first. Writes run/bench/adapt/report.json.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
eval "$(scripts/release.sh)"
PY="$HOME/.cache/squint/venv/bin/python"
CROPS="$ROOT/run/bench/distill/crops"
STUDENT="$ROOT/run/bench/distill/crop/student.card.toml"
WORK="$ROOT/run/bench/adapt"
[ -f "$STUDENT" ] || { echo "run scripts/bench-distill.sh first" >&2; exit 1; }
rm -rf "$WORK"; mkdir -p "$WORK/camera"
"$PY" - "$CROPS" "$WORK/camera" <<'PY'
import cv2, glob, os, sys
import numpy as np
for f in glob.glob(os.path.join(sys.argv[1], "*.png")):
    image = np.clip((cv2.imread(f).astype(np.float32) - 128) * 0.6 + 128 - 40, 0, 255).astype(np.uint8)
    small = cv2.resize(image, (24, 24), interpolation=cv2.INTER_AREA)
    cv2.imwrite(os.path.join(sys.argv[2], os.path.basename(f)), cv2.resize(small, (112, 112)))
PY
"$SQUINT" adapt --model models/sface.card.toml --crops "$WORK/camera" --out "$WORK/sface-camera.card.toml" >&2
"$SQUINT" adapt --model "$STUDENT" --crops "$WORK/camera" --out "$WORK/student-camera.card.toml" >&2
"$PY" scripts/bench_adapt.py "$CROPS" "$WORK/camera" models/sface.card.toml models/sface.card.toml \
  "$WORK/sface-camera.card.toml" "$STUDENT" "$WORK/student-camera.card.toml" | tee "$WORK/report.json"
