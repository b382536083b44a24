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

# The gallery comes from other photos than the scenes' where there are any; eileen is not
# enrolled, so every alert naming anyone on her track is a false alert.
rm -f "$WORK"/gallery.db*
"$SQUINT" enroll --gallery "$WORK/gallery.db" --name obama "$PHOTOS/obama2.jpg" "$PHOTOS/obama3.jpg" >/dev/null
"$SQUINT" enroll --gallery "$WORK/gallery.db" --name biden "$PHOTOS/biden.jpg" >/dev/null
"$SQUINT" enroll --gallery "$WORK/gallery.db" --name grace "$PHOTOS/grace_hopper.jpg" >/dev/null

cat >"$WORK/bench.toml" <<TOML
[models]
detector = "$ROOT/models/yunet.card.toml"
recognizer = "$ROOT/models/sface.card.toml"
[detect]
min_face_px = 10
[gallery]
path = "$WORK/gallery.db"
[alerts]
# Each person passes several times per scene: measure every pass, not only the first.
cooldown_s = 0
[kafka]
brokers = "embedded"
[[cameras]]
id = "bench"
url = "$WORK/scene-16-24/scene.mp4"
TOML

"$SQUINT" bench-alerts --config "$WORK/bench.toml" "${SCENES[@]}" --out "$ROOT/run/bench/alerts.json" "$@"
