#!/usr/bin/env bash
# A private Kannel SMS gateway for tests: bearerbox + smsbox + fakesmsc (a fake SMSC that
# prints every message routed to it), on free loopback ports, with its own configuration.
#
#   scripts/kannel-standin.sh start DIR    start; DIR is created (or emptied) and holds
#                                          everything: config, logs, pids, env
#   scripts/kannel-standin.sh stop DIR     stop what `start DIR` started
#
# After `start`, DIR/env holds (shell syntax, one per line):
#   SENDSMS_URL=http://127.0.0.1:PORT/cgi-bin/sendsms
#   SENDSMS_USER=latchkey   SENDSMS_PASSWORD=<random>   ADMIN_PORT=…   ADMIN_PASSWORD=<random>
# Delivered messages appear in DIR/fakesmsc.out as lines
#   Got message N: <SENDER RECEIVER text TEXT>
#
# Needs Debian's `kannel` (bearerbox, smsbox) and `kannel-extras` (fakesmsc, installed in
# /usr/lib/kannel/test, not on PATH). Nothing here touches /etc/kannel or the system
# service; every port is chosen free at start.
set -euo pipefail

cmd=${1:-}
DIR=${2:-}
if [ -z "$cmd" ] || [ -z "$DIR" ]; then
  echo "usage: $0 start|stop DIR" >&2
  exit 2
fi

FAKESMSC=${KANNEL_FAKESMSC:-/usr/lib/kannel/test/fakesmsc}
find_bin() { command -v "$1" 2>/dev/null || { [ -x "/usr/sbin/$1" ] && echo "/usr/sbin/$1"; } || true; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A port nobody listens on, below Linux's ephemeral range (32768+) so that outgoing
# connections of other processes do not take it in the meantime.
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 12000))
    if ! port_in_use "$p" && ! grep -qx "$p" "$DIR/.ports" 2>/dev/null; then
      echo "$p" >> "$DIR/.ports"
      echo "$p"
      return 0
    fi
  done
  echo "kannel-standin: no free port found" >&2
  return 1
}

wait_port() {
  for _ in $(seq 1 150); do
    port_in_use "$1" && return 0
    sleep 0.1
  done
  echo "kannel-standin: port $1 ($2) did not open; see $DIR/*.log $DIR/*.out" >&2
  return 1
}

# GET a path from the admin interface (no curl needed).
admin_get() {
  local out
  exec 4<>"/dev/tcp/127.0.0.1/$ADMIN_PORT" || return 1
  printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$1" >&4
  out=$(timeout 5 cat <&4 || true)
  exec 4<&- 4>&-
  printf '%s' "$out"
}

alive() { [ -f "$DIR/$1.pid" ] && kill -0 "$(cat "$DIR/$1.pid")" 2>/dev/null; }

random_word() { od -An -N12 -tx1 /dev/urandom | tr -d ' \n'; }

start() {
  local bearerbox smsbox
  bearerbox=$(find_bin bearerbox)
  smsbox=$(find_bin smsbox)
  for b in "$bearerbox" "$smsbox" "$FAKESMSC"; do
    if [ -z "$b" ] || [ ! -x "$b" ]; then
      echo "kannel-standin: bearerbox, smsbox or $FAKESMSC missing (apt-get install kannel kannel-extras)" >&2
      exit 3
    fi
  done
  if [ -e "$DIR" ]; then stop >/dev/null 2>&1 || true; fi
  rm -rf "$DIR"
  mkdir -p "$DIR"
  : > "$DIR/.ports"

  ADMIN_PORT=$(free_port)
  BOX_PORT=$(free_port)
  SENDSMS_PORT=$(free_port)
  SMSC_PORT=$(free_port)
  ADMIN_PASSWORD=$(random_word)
  SENDSMS_PASSWORD=$(random_word)

  cat > "$DIR/kannel.conf" <<CONF
group = core
admin-port = $ADMIN_PORT
admin-password = $ADMIN_PASSWORD
admin-allow-ip = "127.0.0.1"
admin-interface = "127.0.0.1"
smsbox-port = $BOX_PORT
smsbox-interface = "127.0.0.1"
box-allow-ip = "127.0.0.1"
log-file = "$DIR/bearerbox.log"
log-level = 1
store-type = spool
store-location = "$DIR/spool"

group = smsc
smsc = fake
smsc-id = FAKE
host = 127.0.0.1
port = $SMSC_PORT
connect-allow-ip = 127.0.0.1

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = $BOX_PORT
sendsms-port = $SENDSMS_PORT
sendsms-interface = "127.0.0.1"
global-sender = 12345
log-file = "$DIR/smsbox.log"
log-level = 1

group = sendsms-user
username = latchkey
password = $SENDSMS_PASSWORD

group = sms-service
keyword = default
text = "No service specified"
CONF
  mkdir -p "$DIR/spool"

  "$bearerbox" -v 1 "$DIR/kannel.conf" > "$DIR/bearerbox.out" 2>&1 &
  echo $! > "$DIR/bearerbox.pid"
  wait_port "$BOX_PORT" "bearerbox box port"
  wait_port "$SMSC_PORT" "bearerbox fake SMSC port"
  # -m 0: send no mobile-originated messages; print every message bearerbox routes to it.
  "$FAKESMSC" -H 127.0.0.1 -r "$SMSC_PORT" -m 0 '1 2 text unused' > "$DIR/fakesmsc.out" 2>&1 &
  echo $! > "$DIR/fakesmsc.pid"
  "$smsbox" -v 1 "$DIR/kannel.conf" > "$DIR/smsbox.out" 2>&1 &
  echo $! > "$DIR/smsbox.pid"
  wait_port "$SENDSMS_PORT" "smsbox sendsms port"

  # Ours, and routing: the admin status (behind our random password) shows the fake SMSC
  # online once fakesmsc has connected.
  local online=0
  for _ in $(seq 1 100); do
    if admin_get "/status.txt?password=$ADMIN_PASSWORD" | grep -q 'FAKE.*online'; then
      online=1
      break
    fi
    sleep 0.1
  done
  for p in bearerbox smsbox fakesmsc; do
    alive "$p" || { echo "kannel-standin: $p exited; see $DIR/$p.out" >&2; stop >/dev/null 2>&1; exit 1; }
  done
  if [ "$online" -ne 1 ]; then
    echo "kannel-standin: the fake SMSC did not come online; see $DIR/bearerbox.log" >&2
    stop >/dev/null 2>&1
    exit 1
  fi

  cat > "$DIR/env" <<ENV
SENDSMS_URL=http://127.0.0.1:$SENDSMS_PORT/cgi-bin/sendsms
SENDSMS_USER=latchkey
SENDSMS_PASSWORD=$SENDSMS_PASSWORD
ADMIN_PORT=$ADMIN_PORT
ADMIN_PASSWORD=$ADMIN_PASSWORD
ENV
  echo "kannel up in $DIR: sendsms http://127.0.0.1:$SENDSMS_PORT/cgi-bin/sendsms"
}

stop() {
  [ -d "$DIR" ] || return 0
  if [ -f "$DIR/env" ]; then
    # shellcheck disable=SC1091
    . "$DIR/env"
    admin_get "/shutdown?password=$ADMIN_PASSWORD" >/dev/null 2>&1 || true
  fi
  # Give the boxes a moment to leave on their own, then make sure.
  for p in smsbox fakesmsc bearerbox; do
    for _ in $(seq 1 30); do alive "$p" || break; sleep 0.1; done
    if alive "$p"; then kill "$(cat "$DIR/$p.pid")" 2>/dev/null || true; fi
    for _ in $(seq 1 30); do alive "$p" || break; sleep 0.1; done
    if alive "$p"; then kill -9 "$(cat "$DIR/$p.pid")" 2>/dev/null || true; fi
    rm -f "$DIR/$p.pid"
  done
  echo "kannel stopped ($DIR)"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
