#!/usr/bin/env bash
# Measures alerting on generated scenes, one per face-size band (12-16, 16-24, 24-40 and
# 40-64 px): precision/recall per band, time to `confirmed`, the similarity distributions the
# default thresholds come from, and what the recognition budget saves. Writes
# run/bench/alerts.json.
#
#   scripts/bench-alerts.sh [extra squint bench-alerts args]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
eval "$(scripts/release.sh)"
WORK="$ROOT/run/bench/alerts"
PHOTOS="$ROOT/assets/photos"
mkdir -p "$WORK"
export SQUINT_LOG="${SQUINT_LOG:-warn}"

SCENES=()
for band in 12-16 16-24 24-40 40-64; do
  lo="${band%-*}"; hi="${band#*-}"
  dir="$WORK/scene-$band"
  if [ ! -f "$dir/truth.json" ]; then
    "$SQUINT" scenario --background assets/vtest.avi --out "$dir" --frames 300 --min-px "$lo" --max-px "$hi" \
      --appearances 3 --seed "$lo" --fps 25 \
      --person obama="$PHOTOS/obama.jpg" --person biden="$PHOTOS/biden.jpg" \
      --person grace="$PHOTOS/grace_hopper.jpg" --person eileen="$PHOTOS/astronaut.png" >/dev/null
  fi
  SCENES+=(--scene "$dir")
done

# eileen is not enrolled, so every alert naming anyone on her track is a false alert.
scripts/bench-gallery.sh "$WORK" "$WORK/scene-16-24/scene.mp4" <<'TOML'
[alerts]
# Each person passes several times per scene: measure every pass, not only the first.
cooldown_s = 0
TOML

"$SQUINT" bench-alerts --config "$WORK/bench.toml" "${SCENES[@]}" --out "$ROOT/run/bench/alerts.json" "$@"
