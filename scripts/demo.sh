#!/usr/bin/env bash
# Sets up everything and runs Squint on a generated street scene served over RTSP: people at
# 24-40 px walk through real footage; Squint recognizes the enrolled ones and publishes
# events to an embedded Kafka-protocol broker, which `squint tail` reads back and prints.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DURATION="${SQUINT_DEMO_SECONDS:-30}"
eval "$(scripts/release.sh)"
DEMO="$ROOT/run/demo"
PHOTOS="$ROOT/assets/photos"
mkdir -p "$DEMO"
export SQUINT_LOG="${SQUINT_LOG:-info,librdkafka=off,rdkafka=off}"

say() { printf '\n== %s\n' "$*"; }

if [ ! -f "$DEMO/scene/truth.json" ]; then
  say "generating the scene: 4 people at 24-40 px over vtest.avi"
  "$SQUINT" scenario --background assets/vtest.avi --out "$DEMO/scene" --frames 300 --min-px 24 --max-px 40 --seed 7 \
    --person obama="$PHOTOS/obama.jpg" --person biden="$PHOTOS/biden.jpg" \
    --person grace="$PHOTOS/grace_hopper.jpg" --person eileen="$PHOTOS/astronaut.png"
fi

say "enrolling the gallery (obama from other photos than the scene's; eileen is left out on purpose)"
rm -f "$DEMO"/gallery.db*
"$SQUINT" enroll --gallery "$DEMO/gallery.db" --name obama "$PHOTOS/obama2.jpg" "$PHOTOS/obama3.jpg"
"$SQUINT" enroll --gallery "$DEMO/gallery.db" --name biden "$PHOTOS/biden.jpg"
"$SQUINT" enroll --gallery "$DEMO/gallery.db" --name grace "$PHOTOS/grace_hopper.jpg"

PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

say "serving the scene at rtsp://127.0.0.1:8554/scene"
"$SQUINT" serve-rtsp "$DEMO/scene/scene.mp4" --port 8554 --path /scene >"$DEMO/serve.log" 2>&1 &
PIDS+=($!)

say "running the pipeline for ${DURATION}s; events read back over the Kafka protocol:"
rm -f "$DEMO/embedded-kafka.addr"
"$SQUINT" tail --config config/demo.toml --from-beginning --timeout-secs $((DURATION + 30)) --idle-secs 10 \
  >"$DEMO/events.txt" 2>"$DEMO/tail.log" &
TAIL_PID=$!
PIDS+=($TAIL_PID)
"$SQUINT" tail --config config/demo.toml --topic squint.alerts --json --from-beginning \
  --timeout-secs $((DURATION + 30)) --idle-secs 10 >"$DEMO/alerts.jsonl" 2>"$DEMO/tail-alerts.log" &
ALERTS_PID=$!
PIDS+=($ALERTS_PID)
"$SQUINT" run --config config/demo.toml --duration "$DURATION" --stats-json "$DEMO/stats.json" 2>"$DEMO/run.log" &
RUN_PID=$!
PIDS+=($RUN_PID)
tail -n +1 -f "$DEMO/events.txt" --pid "$TAIL_PID" | awk 'NR % 5 == 1'
wait "$ALERTS_PID" || true
if ! wait "$RUN_PID"; then
  echo "squint run failed; the end of $DEMO/run.log:" >&2
  grep -v '^ ' "$DEMO/run.log" | tail -n 15 >&2
  exit 1
fi

say "summary"
tail -n 1 "$DEMO/tail.log"
python3 - "$DEMO/stats.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["stats"]
print(f"{s['frames']} frames, {s['faces']} faces ({s['faces_skipped']} not embedded: recognition budget), "
      f"{s['events']} identity events, {s['alerts']} alerts, {s['delivered']} delivered to Kafka")
print(f"detect {s['detect_ms_per_frame']:.1f} ms/frame, align {s['align_ms_per_face']:.2f} ms/face, "
      f"embed {s['embed_ms_per_face']:.1f} ms/face (mean batch {s['mean_batch']:.1f})")
PY
python3 - "$DEMO/alerts.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    a = json.loads(line)
    e = a["evidence"]
    print(f"alert {a['stage']:<10} {a['identity']:<8} track {a['track_id']:<16} frames {e['frames_seen']:>3} "
          f"(supporting {e['frames_supporting']}), track sim {e['track_similarity']:.2f}, "
          f"face {e['face_width_min_px']:.0f}-{e['face_width_max_px']:.0f} px, band {a['thresholds']['band']}")
PY
echo "(identity events: $DEMO/events.txt; alerts: $DEMO/alerts.jsonl; logs: $DEMO/run.log)"
