#!/usr/bin/env bash
# Starts or stops the tansu Kafka-compatible broker used by the tests, on 127.0.0.1 with
# sqlite storage (durable across broker restarts, which the idempotent producer needs).
#
#   scripts/broker.sh start DIR [PORT]   prints the bootstrap address; pid in DIR/tansu.pid
#   scripts/broker.sh start-tls DIR USER PASSWORD
#                                        the same broker behind a TLS listener (stunnel) with
#                                        a CA and certificate made here (DIR/ca.pem; DIR/other-ca.pem
#                                        signed nothing), requiring SASL/SCRAM-SHA-512 login as
#                                        USER; prints the TLS bootstrap address
#   scripts/broker.sh stop DIR
#   scripts/broker.sh kill DIR           SIGKILL at once: a broker crash, for outage tests
set -euo pipefail

TANSU="${SQUINT_TANSU:-$HOME/.cache/squint/tansu/bin/tansu}"
cmd="${1:-}"; dir="${2:-}"
usage="usage: broker.sh start|start-tls|stop|kill DIR [PORT | USER PASSWORD]"
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "$usage" >&2; exit 2; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Bounded wait for port $1: 100 × 0.1 s, giving up early when the process in pid file $2 died.
wait_for_port() {
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    kill -0 "$(cat "$2")" 2>/dev/null || break
    sleep 0.1
  done
  return 1
}

# start_tansu PORT ADVERTISED_PORT [EXTRA ARGS…]
start_tansu() {
  local port="$1" advertised="$2"; shift 2
  [ -x "$TANSU" ] || { echo "broker.sh: $TANSU missing; run scripts/setup.sh --broker" >&2; exit 1; }
  # tansu reads the sqlite URL's path relative to its working directory.
  # A clean environment: variables inherited from a test harness (cargo sets many) must
  # not reach the broker.
  (cd "$dir" && exec setsid env -i PATH="$PATH" HOME="$HOME" RUST_LOG="${TANSU_LOG:-warn}" "$TANSU" broker "$@" \
    --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$advertised" \
    --storage-engine "sqlite://tansu.db" >>tansu.log 2>&1) &
  echo $! >"$dir/tansu.pid"
  wait_for_port "$port" "$dir/tansu.pid" && return 0
  echo "broker.sh: tansu did not open 127.0.0.1:$port; see $dir/tansu.log" >&2
  tail -n 20 "$dir/tansu.log" >&2 || true
  exit 1
}

# stop_pid_file FILE [SIGNAL]: TERM (or the given signal), then KILL after 5 s.
stop_pid_file() {
  [ -f "$1" ] || return 0
  local pid; pid="$(cat "$1")"
  kill "-${2:-TERM}" "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$1"
}

# A throw-away CA, a broker certificate it signed for 127.0.0.1, and a second CA that
# signed nothing (for wrong-CA tests).
make_certificates() {
  for ca in ca other-ca; do
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=squint test $ca" \
      -keyout "$dir/$ca.key" -out "$dir/$ca.pem" 2>/dev/null
  done
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$dir/broker.key" -out "$dir/broker.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$dir/broker.ext"
  openssl x509 -req -days 2 -in "$dir/broker.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
    -extfile "$dir/broker.ext" -out "$dir/broker.pem" 2>/dev/null
}

start_tls() {
  local user="$1" password="$2" plain tls
  command -v stunnel >/dev/null || { echo "broker.sh: stunnel missing; run scripts/setup.sh --broker" >&2; exit 1; }
  make_certificates
  plain="$(free_port)"; tls="$(free_port)"
  # Clients are told (advertised) the TLS port, so every connection goes through stunnel.
  # The user is stored first, without authentication, then the broker restarts requiring it.
  start_tansu "$plain" "$tls"
  "$TANSU" user create --broker "tcp://127.0.0.1:$plain" --mechanism scram512 "$user" "$password" >>"$dir/tansu.log" 2>&1
  stop_pid_file "$dir/tansu.pid"
  start_tansu "$plain" "$tls" --authentication
  printf 'foreground = yes\npid =\n[kafka]\naccept = 127.0.0.1:%s\nconnect = 127.0.0.1:%s\ncert = %s\nkey = %s\n' \
    "$tls" "$plain" "$dir/broker.pem" "$dir/broker.key" >"$dir/stunnel.conf"
  (exec setsid stunnel "$dir/stunnel.conf" >>"$dir/stunnel.log" 2>&1) &
  echo $! >"$dir/stunnel.pid"
  wait_for_port "$tls" "$dir/stunnel.pid" && { echo "127.0.0.1:$tls"; return 0; }
  echo "broker.sh: stunnel did not open 127.0.0.1:$tls; see $dir/stunnel.log" >&2
  exit 1
}

case "$cmd" in
  start)
    mkdir -p "$dir"
    port="${3:-$(free_port)}"
    start_tansu "$port" "$port"
    echo "127.0.0.1:$port"
    ;;
  start-tls)
    [ -n "${3:-}" ] && [ -n "${4:-}" ] || { echo "usage: broker.sh start-tls DIR USER PASSWORD" >&2; exit 2; }
    mkdir -p "$dir"
    start_tls "$3" "$4"
    ;;
  stop)
    stop_pid_file "$dir/stunnel.pid"
    stop_pid_file "$dir/tansu.pid"
    ;;
  kill)
    stop_pid_file "$dir/tansu.pid" KILL
    ;;
  *) echo "$usage" >&2; exit 2 ;;
esac
