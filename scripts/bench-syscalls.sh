#!/usr/bin/env bash
# System calls per successful authentication, counted with perf's syscall tracepoints over
# 4 s of the load harness's success phase (docs/benchmarks.md, "Comparing builds").
#
#   scripts/bench-syscalls.sh [LATCHKEY_BINARY ...]        default: target/release/latchkey
#
# Prints, per binary, the calls per answered request (one writev per answer) of: fdatasync
# and fsync (one per committed batch; requests per batch follow), pwrite64 (the WAL frames
# written), pread64 (pages read), futex (thread hand-offs), fcntl (SQLite's locks), and the
# context switches. Needs: perf with tracepoints (Debian linux-perf, as root), a release
# build of the harness.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=${LATCHKEY_BENCH:-$ROOT/target/release/latchkey-bench}
command -v perf >/dev/null || { echo "needs perf (apt-get install linux-perf)" >&2; exit 2; }
[ -x "$BENCH" ] || { echo "needs $BENCH (cargo build --release -p latchkey-bench)" >&2; exit 2; }
[ $# -gt 0 ] || set -- "$ROOT/target/release/latchkey"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
EVENTS=syscalls:sys_enter_writev,syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync,syscalls:sys_enter_pwrite64,syscalls:sys_enter_pread64,syscalls:sys_enter_futex,syscalls:sys_enter_fcntl,cs
for bin in "$@"; do
  log="$WORK/bench.log"
  "$BENCH" --latchkey "$bin" --seconds 8 --warmup 1 --no-radius --replay-codes 0 > "$log" 2>&1 &
  harness=$!
  until grep -aq '^\[empty' "$log"; do
    kill -0 "$harness" 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 0.2
  done
  pid=$(grep -ao 'pid [0-9]*' "$log" | head -1 | cut -d' ' -f2)
  sleep 1.5
  perf stat -x, -e "$EVENTS" -p "$pid" -- sleep 4 2> "$WORK/stat.csv"
  wait "$harness"
  awk -F, -v bin="$bin" '
    $1 ~ /^[0-9]+$/ { n = split($3, a, ":"); name = a[n]; sub("sys_enter_", "", name); c[name] = $1 }
    END {
      req = c["writev"] ? c["writev"] : 1; syncs = c["fdatasync"] + c["fsync"]
      printf "%s: per request:", bin
      for (k in c) if (k != "writev") printf " %s=%.2f", k, c[k] / req
      if (syncs) printf "; requests per commit %.1f", req / syncs
      printf "\n"
    }' "$WORK/stat.csv"
  grep -a '^\[success\]' "$log" | cut -c1-100
done
