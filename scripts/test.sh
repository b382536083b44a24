#!/usr/bin/env bash
# Sets up everything (system packages, ONNX Runtime, models, demo assets, test broker) and
# runs the whole test suite against real parts: ONNX models, an in-process gst-rtsp-server on
# 127.0.0.1, a tansu broker started here, and headless Chromium for the review page.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
eval "$(scripts/setup.sh --broker --reference --faces --browser)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/squint/target}"
export RUST_BACKTRACE=0

# Lint first: cheap, and a failure here needs no broker.
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings

BROKER_DIR="$(mktemp -d)"
trap 'scripts/broker.sh stop "$BROKER_DIR"; rm -rf "$BROKER_DIR"' EXIT
SQUINT_TEST_KAFKA="$(scripts/broker.sh start "$BROKER_DIR")"
export SQUINT_TEST_KAFKA
echo "[test] tansu broker at $SQUINT_TEST_KAFKA" >&2

cargo test --all-targets --locked "$@"
