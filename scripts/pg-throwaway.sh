#!/usr/bin/env bash
# Throwaway PostgreSQL 15 cluster for tests (trust auth, no durability: NEVER for real data).
#
#   scripts/pg-throwaway.sh start DIR [PORT]   -> prints one line: postgres://postgres@127.0.0.1:PORT/postgres
#   scripts/pg-throwaway.sh stop DIR           -> fast shutdown; harmless if not running
#
# Cluster data lives in DIR/data, the unix socket in DIR, logs in DIR/*.log.
# initdb/postgres refuse to run as root, so as root everything runs as user
# 'postgres' (created with useradd --system if missing; falls back to 'nobody'),
# which must be able to reach DIR (mktemp -d under /tmp is fine).
# As a non-root user, initdb/pg_ctl run as the current user.
# If PORT is omitted a free TCP port on 127.0.0.1 is chosen.
#
# Environment: PG_BIN (default /usr/lib/postgresql/15/bin), PG_THROWAWAY_USER (default postgres).
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

die() { echo "pg-throwaway: $*" >&2; exit 1; }
usage() { die "usage: $0 start DIR [PORT] | stop DIR"; }

# run CMD... as RUNAS (root) or directly (non-root), from a cwd the user can read
as_user() {
  if [ -n "$RUNAS" ]; then
    (cd / && runuser -u "$RUNAS" -- "$@")
  else
    (cd / && "$@")
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

pick_root_user() {
  local u=${PG_THROWAWAY_USER:-postgres}
  if ! id -u "$u" >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin "$u" >/dev/null 2>&1 || true
  fi
  if id -u "$u" >/dev/null 2>&1; then echo "$u"; else echo nobody; fi
}

cmd=${1:-}; DIR=${2:-}
[ -n "$cmd" ] && [ -n "$DIR" ] || usage
case "$DIR" in *[[:space:]]*) die "DIR must not contain whitespace: '$DIR'";; esac

case "$cmd" in
start)
  PORT=${3:-}
  [ -x "$PG_BIN/initdb" ] || die "$PG_BIN/initdb not found (install postgresql-15 or set PG_BIN)"
  mkdir -p "$DIR"
  DIR=$(cd "$DIR" && pwd)
  [ ! -e "$DIR/data" ] || die "$DIR/data already exists; stop it and use a fresh DIR"

  RUNAS=""
  if [ "$(id -u)" -eq 0 ]; then
    RUNAS=$(pick_root_user)
    chown "$RUNAS" "$DIR"
  fi
  chmod 700 "$DIR"
  as_user test -w "$DIR" || die "user ${RUNAS:-$(id -un)} cannot write $DIR (is a parent dir not traversable?)"

  if ! as_user "$PG_BIN/initdb" -D "$DIR/data" -U postgres -A trust --no-sync \
        -E UTF8 --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1; then
    tail -n 20 "$DIR/initdb.log" >&2
    die "initdb failed (log: $DIR/initdb.log)"
  fi

  auto_port=0; [ -n "$PORT" ] || auto_port=1
  attempts=1; [ "$auto_port" -eq 1 ] && attempts=3
  started=0
  for _ in $(seq 1 "$attempts"); do
    [ "$auto_port" -eq 1 ] && PORT=$(free_port)
    if as_user "$PG_BIN/pg_ctl" -D "$DIR/data" -l "$DIR/postgres.log" -w -t 30 \
         -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
         start >>"$DIR/pg_ctl.log" 2>&1; then
      started=1; break
    fi
  done
  if [ "$started" -ne 1 ]; then
    tail -n 20 "$DIR/postgres.log" >&2 2>/dev/null || true
    tail -n 5 "$DIR/pg_ctl.log" >&2 || true
    die "pg_ctl start failed (logs in $DIR)"
  fi
  echo "$PORT" >"$DIR/port"
  echo "postgres://postgres@127.0.0.1:$PORT/postgres"
  ;;
stop)
  [ -f "$DIR/data/postmaster.pid" ] || exit 0     # never started / already stopped
  RUNAS=""
  if [ "$(id -u)" -eq 0 ]; then
    RUNAS=$(stat -c %U "$DIR/data")
    [ "$RUNAS" != root ] || RUNAS=""
  fi
  if as_user "$PG_BIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
    as_user "$PG_BIN/pg_ctl" -D "$DIR/data" -m fast -w -t 30 stop >>"$DIR/pg_ctl.log" 2>&1 \
      || die "pg_ctl stop failed (log: $DIR/pg_ctl.log)"
  fi
  ;;
*) usage ;;
esac
