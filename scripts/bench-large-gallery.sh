#!/usr/bin/env bash
# Matching against galleries of 10k, 100k and 1M identities, exact and through the HNSW
# index: build and start-up time, memory, ms per probe, recall@1 against exact matching, the
# time until an enrolment is matched, and the threshold-vs-gallery-size chart. Synthetic
# identities are drawn like SFace embeddings of the CelebA photos; the real people of the
# face data (CelebA repeats, Olivetti) are mixed in and their other photos are the probes.
# About 15 minutes and 2 GB of disk on 2 cores. Writes run/bench/large-gallery.{json,png,md}.
#
#   scripts/bench-large-gallery.sh [extra squint bench-gallery args]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
eval "$(scripts/release.sh)"
eval "$(scripts/setup.sh --faces)"
OUT="$ROOT/run/bench"
mkdir -p "$OUT"
export SQUINT_LOG="${SQUINT_LOG:-info}"
"$SQUINT" bench-gallery --sizes 10000,100000,1000000 --expansions 128,256,512 \
  --fit "$SQUINT_FACES/celeba/singles" \
  --people "$SQUINT_FACES/celeba/repeats" --people "$SQUINT_FACES/olivetti" \
  --dir "$OUT/large-gallery" --out "$OUT/large-gallery.json" --chart "$OUT/large-gallery.png" "$@" >/dev/null
python3 scripts/gallery_table.py "$OUT/large-gallery.json" | tee "$OUT/large-gallery.md"
