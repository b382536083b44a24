#!/usr/bin/env bash
# Enrols the benchmarks' three people into DIR/gallery.db from other photos than the scenes'
# where there are any (obama2/obama3; biden and grace have one photo each), and writes
# DIR/bench.toml pointing at it; standard input holds the config's own tables (before its
# one camera).
#
#   scripts/bench-gallery.sh DIR CAMERA_URL < extra.toml      (SQUINT: the binary)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${1:?usage: bench-gallery.sh DIR CAMERA_URL}"
URL="${2:?usage: bench-gallery.sh DIR CAMERA_URL}"
PHOTOS="$ROOT/assets/photos"
: "${SQUINT:?set SQUINT to the squint binary (eval \"\$(scripts/release.sh)\")}"

rm -f "$DIR"/gallery.db*
"$SQUINT" enroll --gallery "$DIR/gallery.db" --name obama "$PHOTOS/obama2.jpg" "$PHOTOS/obama3.jpg" >/dev/null
"$SQUINT" enroll --gallery "$DIR/gallery.db" --name biden "$PHOTOS/biden.jpg" >/dev/null
"$SQUINT" enroll --gallery "$DIR/gallery.db" --name grace "$PHOTOS/grace_hopper.jpg" >/dev/null

{
  cat <<TOML
[models]
detector = "$ROOT/models/yunet.card.toml"
recognizer = "$ROOT/models/sface.card.toml"
[detect]
min_face_px = 10
[gallery]
path = "$DIR/gallery.db"
[kafka]
brokers = "embedded"
TOML
  cat
  printf '[[cameras]]\nid = "bench"\nurl = "%s"\n' "$URL"
} >"$DIR/bench.toml"
