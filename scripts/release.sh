#!/usr/bin/env bash
# Sets everything up and builds the release binary; prints shell exports for the caller:
#   eval "$(scripts/release.sh)"   # ORT_DYLIB_PATH, CARGO_TARGET_DIR and SQUINT (the binary)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
exports="$(scripts/setup.sh)"
eval "$exports"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/squint/target}"
cargo build --release --locked --quiet >&2
echo "$exports"
echo "export CARGO_TARGET_DIR='$CARGO_TARGET_DIR'"
echo "export SQUINT='$CARGO_TARGET_DIR/release/squint'"
