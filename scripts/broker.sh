#!/usr/bin/env bash
# Starts or stops the tansu Kafka-compatible broker used by the tests, on 127.0.0.1 with
# sqlite storage (durable across broker restarts, which the idempotent producer needs).
#
#   scripts/broker.sh start DIR [PORT]   prints the bootstrap address; pid in DIR/tansu.pid
#   scripts/broker.sh stop DIR
#   scripts/broker.sh kill DIR           SIGKILL at once: a broker crash, for outage tests
set -euo pipefail

TANSU="${SQUINT_TANSU:-$HOME/.cache/squint/tansu/bin/tansu}"
cmd="${1:-}"; dir="${2:-}"
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: broker.sh start|stop|kill DIR [PORT]" >&2; exit 2; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

case "$cmd" in
  start)
    [ -x "$TANSU" ] || { echo "broker.sh: $TANSU missing; run scripts/setup.sh --broker" >&2; exit 1; }
    mkdir -p "$dir"
    port="${3:-$(free_port)}"
    # tansu reads the sqlite URL's path relative to its working directory.
    # A clean environment: variables inherited from a test harness (cargo sets many) must
    # not reach the broker.
    (cd "$dir" && exec setsid env -i PATH="$PATH" HOME="$HOME" RUST_LOG="${TANSU_LOG:-warn}" "$TANSU" broker --listener-url "tcp://127.0.0.1:$port" \
      --advertised-listener-url "tcp://127.0.0.1:$port" --storage-engine "sqlite://tansu.db" >>tansu.log 2>&1) &
    echo $! >"$dir/tansu.pid"
    # Bounded wait for the port: 100 × 0.1 s.
    for _ in $(seq 1 100); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "127.0.0.1:$port"; exit 0; fi
      kill -0 "$(cat "$dir/tansu.pid")" 2>/dev/null || break
      sleep 0.1
    done
    echo "broker.sh: tansu did not open 127.0.0.1:$port; see $dir/tansu.log" >&2
    tail -n 20 "$dir/tansu.log" >&2 || true
    exit 1
    ;;
  stop)
    if [ -f "$dir/tansu.pid" ]; then
      pid="$(cat "$dir/tansu.pid")"
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$dir/tansu.pid"
    fi
    ;;
  kill)
    if [ -f "$dir/tansu.pid" ]; then
      pid="$(cat "$dir/tansu.pid")"
      kill -9 "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      rm -f "$dir/tansu.pid"
    fi
    ;;
  *) echo "usage: broker.sh start|stop|kill DIR [PORT]" >&2; exit 2 ;;
esac
