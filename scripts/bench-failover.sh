#!/usr/bin/env bash
# Measures failover of a cluster site: 3 worker processes of one consumer group share 6
# cameras (the street footage over RTSP on 127.0.0.1); the busiest worker is killed with
# SIGKILL 10 times (and replaced), timing until its cameras stream on another worker.
# Uses the test broker (tansu) with sqlite storage. Writes run/bench/failover.json.
#
#   scripts/bench-failover.sh [extra squint bench-failover args]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
eval "$(scripts/setup.sh --broker)"
eval "$(scripts/release.sh)"
WORK="$ROOT/run/bench/failover"
BROKER_DIR="$WORK/broker"
rm -rf "$WORK"
mkdir -p "$BROKER_DIR"
BROKER="$(scripts/broker.sh start "$BROKER_DIR")"
trap 'scripts/broker.sh stop "$BROKER_DIR"' EXIT
export SQUINT_LOG="${SQUINT_LOG:-info}"

"$SQUINT" enroll --gallery "$WORK/gallery.db" --name obama "$ROOT/assets/photos/obama2.jpg" >/dev/null
cat >"$WORK/worker.toml" <<TOML
[models]
detector = "$ROOT/models/yunet.card.toml"
recognizer = "$ROOT/models/sface.card.toml"
[recognize]
threads = 1
[gallery]
path = "$WORK/gallery.db"
[kafka]
brokers = "$BROKER"
[cluster]
group = "squint-bench"
partitions = 12
session_timeout_s = 6
stop_timeout_s = 5
TOML
"$SQUINT" bench-failover --config "$WORK/worker.toml" \
  --video assets/vtest.avi \
  --work "$WORK/workers" --out "$ROOT/run/bench/failover.json" "$@"
