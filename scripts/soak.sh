#!/usr/bin/env bash
# A long run with every feature on: 4 cameras over RTSP (each served by its own `squint
# serve-rtsp` process, one killed and restarted in turn so each camera's server restarts every
# 5 minutes), region search, [unknowns] on with a stranger coming back on every loop of the
# scene, an enrolment at minute 15 and a promotion at minute 30 (run as the operator would,
# `squint enroll` and `squint unknowns promote`), /metrics and /review polled every 10 s,
# Kafka on the test broker. Samples RSS, threads, open files, gallery and spool size and
# event latency every minute; writes run/soak/soak.json and run/soak/soak.png and checks:
# RSS growth < 5 % from minute 10 to the end, threads and open files flat, every identity
# event read back from Kafka. CI runs the same properties for 80 s (tests/soak.rs).
#
#   scripts/soak.sh [SECONDS]    (default 3600)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SECONDS_TOTAL="${1:-3600}"
eval "$(scripts/setup.sh --broker)"
eval "$(scripts/release.sh)"
WORK="$ROOT/run/soak"
rm -rf "$WORK/state" "$WORK/broker" "$WORK"/gallery.db*
mkdir -p "$WORK/broker"
BROKER="$(scripts/broker.sh start "$WORK/broker")"
trap 'scripts/broker.sh stop "$WORK/broker"' EXIT
PHOTOS="$ROOT/assets/photos"

if [[ ! -f "$WORK/scene/truth.json" ]]; then
  "$SQUINT" scenario --background assets/vtest.avi --out "$WORK/scene" --frames 300 --min-px 20 --max-px 40 --seed 11 \
    --person obama="$PHOTOS/obama.jpg" --person biden="$PHOTOS/biden.jpg" --person eileen="$PHOTOS/astronaut.png"
fi
"$SQUINT" enroll --gallery "$WORK/gallery.db" --name obama "$PHOTOS/obama2.jpg" "$PHOTOS/obama3.jpg" >/dev/null

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
{
  cat <<TOML
[models]
detector = "$ROOT/models/yunet.card.toml"
recognizer = "$ROOT/models/sface.card.toml"
[pipeline]
state_dir = "$WORK/state"
[detect]
search = "regions"
[gallery]
path = "$WORK/gallery.db"
reload_s = 2.0
[unknowns]
enabled = true
[http]
address = "127.0.0.1:0"
token = "soak-review-token-0123456789"
[kafka]
brokers = "$BROKER"
topic = "squint.soak.$(date +%s)"
alert_topic = "squint.soak.alerts.$(date +%s)"
TOML
  for i in 0 1 2 3; do
    printf '[[cameras]]\nid = "cam%s"\nurl = "rtsp://127.0.0.1:%s/cam%s"\n' "$i" "$(port)" "$i"
  done
} > "$WORK/soak.toml"

# Each camera's server restarts every 5 minutes: one of the four every 75 s.
"$SQUINT" soak --config "$WORK/soak.toml" --seconds "$SECONDS_TOTAL" --every 60 \
  --serve "$WORK/scene/scene.mp4" --restart-every 75 \
  --enrol biden="$PHOTOS/biden.jpg" --enrol-at "$((SECONDS_TOTAL / 4))" --promote-at "$((SECONDS_TOTAL / 2))" \
  --poll-every 10 --read-back --out "$WORK/soak.json" --chart "$WORK/soak.png" > /dev/null

python3 - "$WORK/soak.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
checks = {
    "RSS growth < 5 % (minute 10 to the end)": r["rss_growth_pct"] < 5.0,
    "threads flat": r["thread_growth"] <= 0,
    "open files flat": r["fd_growth"] <= 1,
    "every event read back from Kafka": r["events_read_back"] == r["events_produced"] and r["spool_pending"] == 0,
    "enrolled and promoted during the run": bool(r["enrolled"]) and bool(r["promoted"]),
    "polls answered": r["polls_failed"] == 0,
}
last = r["samples"][-1]
print(f"soak: {r['seconds']:.0f} s, {r['events_produced']} events ({r['events_read_back']} read back), "
      f"{r['server_restarts']} server restarts, RSS {r['samples'][0]['rss_mib']:.0f} -> {last['rss_mib']:.0f} MiB "
      f"({r['rss_growth_pct']:+.1f} % from minute 10), threads {r['thread_growth']:+d}, fds {r['fd_growth']:+d}, "
      f"gallery {last['gallery_bytes'] / 1e6:.1f} MB, spool {last['spool_bytes'] / 1e6:.1f} MB, "
      f"latency p50 {last['latency_p50_ms']:.0f} ms p99 {last['latency_p99_ms']:.0f} ms")
for name, ok in checks.items():
    print(f"  {'ok  ' if ok else 'FAIL'} {name}")
sys.exit(0 if all(checks.values()) else 1)
PY
