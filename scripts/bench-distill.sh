#!/usr/bin/env bash
# Distils a student on every face this machine can get from package registries and measures
# it: parameters, ms per face against SFace (same run), training time per epoch, and the
# validation table per probe size against the teacher on up-sampled probes. Writes
# run/bench/distill/<split>/report.json for split = source (held-out faces never seen) and
# crop (held-out copies of trained faces).
#
#   scripts/bench-distill.sh [extra squint distill args, e.g. --epochs 10]
#
# Faces: the demo photos (public domain), t1.jpg and Tom_Hanks_54745.png from the PyPI sdist
# insightface==2.1 and messi5.jpg from Debian's opencv-doc — 14 faces of 12 people, used
# here for measurement only and not redistributed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
eval "$(scripts/release.sh)"
WORK="$ROOT/run/bench/distill"
PHOTOS="$WORK/photos"
mkdir -p "$PHOTOS"
export SQUINT_LOG="${SQUINT_LOG:-info}"

if [ ! -f "$PHOTOS/t1.jpg" ]; then
  cp assets/photos/* assets/messi5.jpg "$PHOTOS/"
  tmp="$(mktemp -d)"
  "$HOME/.cache/squint/venv/bin/pip" download -q --disable-pip-version-check --no-deps --no-binary :all: \
    -d "$tmp" "insightface==2.1"
  tar -xzf "$tmp"/insightface-2.1.tar.gz -C "$tmp" insightface-2.1/insightface/data/images/t1.jpg \
    insightface-2.1/insightface/data/images/Tom_Hanks_54745.png
  cp "$tmp"/insightface-2.1/insightface/data/images/{t1.jpg,Tom_Hanks_54745.png} "$PHOTOS/"
  rm -rf "$tmp"
fi
if [ ! -f "$WORK/crops/harvest.json" ]; then
  "$SQUINT" harvest --photos "$PHOTOS" --augment 30 --min-face-px 30 --out "$WORK/crops" >/dev/null
fi
for split in source crop; do
  rm -rf "$WORK/$split"
  "$SQUINT" distill --data "$WORK/crops" --out "$WORK/$split" --split "$split" "$@" >/dev/null
  echo "report: $WORK/$split/report.json" >&2
done
