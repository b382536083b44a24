#!/usr/bin/env bash
# Measures recognition against face size on people the models never trained on, as the
# README's "What to expect at 12, 16, 24 px" reports it. Fetches the registry face data
# (scripts/setup.sh --faces; licences in $SQUINT_FACES/PROVENANCE.md), builds the release
# binary and runs `squint eval` three times, writing run/bench/eval/<name>.{md,json,png}:
#   olivetti  40 people × 10 grey photos; CelebA singles (grey) as distractors and strangers
#   celeba    CelebA's checked repeat groups (scripts/data/celeba-repeats.txt) and the demo
#             photos; CelebA singles as distractors and strangers
#   vtest     vtest.avi's own pedestrians: tracks as labels
#
#   scripts/bench-eval.sh [extra squint eval args, e.g. --recognizer run/student.card.toml]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
eval "$(scripts/setup.sh --faces)"
eval "$(scripts/release.sh)"
OUT="$ROOT/run/bench/eval"
mkdir -p "$OUT"
run() {
  local name="$1"; shift
  local started; started="$(date +%s)"
  "$SQUINT" eval "$@" --json "$OUT/$name.json" > "$OUT/$name.md"
  echo "[bench-eval] $name: $(( $(date +%s) - started )) s, $OUT/$name.md" >&2
}
run olivetti --set "$SQUINT_FACES/olivetti" --distractors "$SQUINT_FACES/celeba/singles" --grey \
  --plot "$OUT/olivetti.png" "$@"
run celeba --set "$SQUINT_FACES/celeba/repeats" --set "$SQUINT_FACES/demo" \
  --distractors "$SQUINT_FACES/celeba/singles" --plot "$OUT/celeba.png" "$@"
run vtest --video assets/vtest.avi "$@"
cat "$OUT"/olivetti.md "$OUT"/celeba.md "$OUT"/vtest.md
