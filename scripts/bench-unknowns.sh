#!/usr/bin/env bash
# Measures unknown-face clustering: eight strangers (Olivetti people, a different photo on
# each visit) walk among three enrolled people over four visits and a fifth after their
# clusters are promoted, at 16-24 and 24-40 px. Settings are tuned on strangers s01-s08
# and reported on s21-s28 (never tuned on). Writes run/bench/unknowns.json.
#
#   scripts/bench-unknowns.sh [extra squint bench-unknowns args]
#
# Needs the face data (scripts/setup.sh --faces); the Olivetti licence forbids
# redistribution, so the scenes stay under run/, which is never committed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
eval "$(scripts/setup.sh --faces)"
eval "$(scripts/release.sh)"
OLIVETTI="$SQUINT_FACES/olivetti"
WORK="$ROOT/run/bench/unknowns"
PHOTOS="$ROOT/assets/photos"
VISITS=5
mkdir -p "$WORK"
export SQUINT_LOG="${SQUINT_LOG:-warn}"

# Olivetti photos in which the detector finds no face (learnt as scenes are made).
FACELESS="$WORK/faceless.txt"
touch "$FACELESS"

# The VISIT-th photo of PERSON with a findable face.
photo_of() {
  ls "$OLIVETTI/$1"/*.png | sort | grep -vxF -f "$FACELESS" | sed -n "${2}p"
}

# scene SIDE BAND VISIT FIRST_STRANGER
scene() {
  local side="$1" band="$2" visit="$3" first="$4" dir lo hi seed args n name tries err bad
  dir="$WORK/$side/$band/visit-$visit"
  [ -f "$dir/truth.json" ] && return 0
  lo="${band%-*}"; hi="${band#*-}"
  seed=$(( first * 1000 + lo * 10 + visit ))
  for tries in $(seq 1 20); do
    args=()
    for n in $(seq "$first" $((first + 7))); do
      name="$(printf 's%02d' "$n")"
      args+=(--person "$name=$(photo_of "$name" "$visit")")
    done
    if err="$("$SQUINT" scenario --background assets/vtest.avi --out "$dir" --frames 150 \
        --min-px "$lo" --max-px "$hi" --appearances 1 --seed "$seed" --fps 25 "${args[@]}" \
        --person obama="$PHOTOS/obama.jpg" --person biden="$PHOTOS/biden.jpg" \
        --person grace="$PHOTOS/grace_hopper.jpg" 2>&1 >/dev/null)"; then
      return 0
    fi
    # "photo PATH: no face found": that photo is skipped from now on, and the scene retried.
    bad="$(sed -n 's/^Error: photo \(.*\): no face found$/\1/p' <<<"$err")"
    [ -n "$bad" ] || { echo "$err" >&2; exit 1; }
    echo "$bad" >>"$FACELESS"
  done
  echo "bench-unknowns.sh: no scene for $dir after $tries tries" >&2
  exit 1
}

for band in 16-24 24-40; do
  for visit in $(seq 1 "$VISITS"); do
    scene tune "$band" "$visit" 1
    scene report "$band" "$visit" 21
  done
done

scripts/bench-gallery.sh "$WORK" "$WORK/report/16-24/visit-1/scene.mp4" <<'TOML'
[unknowns]
enabled = true
TOML

"$SQUINT" bench-unknowns --config "$WORK/bench.toml" --tune "$WORK/tune" --report "$WORK/report" \
  --out "$ROOT/run/bench/unknowns.json" "$@"
