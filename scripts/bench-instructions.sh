#!/usr/bin/env bash
# Instructions per successful authentication, counted by callgrind: a figure that does not
# move with the machine's load, for comparing two builds of the hot path on a noisy machine
# (docs/benchmarks.md, "Comparing builds").
#
#   scripts/bench-instructions.sh [LATCHKEY_BINARY ...]     default: target/release/latchkey
#
# Runs the load harness (target/release/latchkey-bench) against each binary started under
# valgrind --tool=callgrind, zeroes the counters when the empty-endpoint phase ends and dumps
# them when the success phase ends, and prints the user-space instructions of all the
# server's threads divided by the successes of that phase. Kernel work (system calls, the
# disk) is not counted; see scripts/bench-syscalls.sh for that side.
# Needs: valgrind (callgrind_control), a release build of the harness.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=${LATCHKEY_BENCH:-$ROOT/target/release/latchkey-bench}
command -v callgrind_control >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 2; }
[ -x "$BENCH" ] || { echo "needs $BENCH (cargo build --release -p latchkey-bench)" >&2; exit 2; }
[ $# -gt 0 ] || set -- "$ROOT/target/release/latchkey"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cat > "$WORK/wrap.sh" <<WRAP
#!/bin/sh
exec valgrind --tool=callgrind --callgrind-out-file=$WORK/cg.%p.out "\$LK_BINARY" "\$@"
WRAP
chmod +x "$WORK/wrap.sh"

for bin in "$@"; do
  export LK_BINARY
  LK_BINARY=$(readlink -f "$bin")
  log="$WORK/bench.log"
  "$BENCH" --latchkey "$WORK/wrap.sh" --seconds "${SECS:-6}" --warmup 1 --users 64 \
    --concurrency 8 --no-radius --replay-codes 0 > "$log" 2>&1 &
  harness=$!
  until grep -aq '^\[empty' "$log"; do
    kill -0 "$harness" 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 0.2
  done
  pid=$(grep -ao 'pid [0-9]*' "$log" | head -1 | cut -d' ' -f2)
  callgrind_control -z "$pid" > /dev/null 2>&1
  until grep -aq '^\[success\]' "$log"; do
    kill -0 "$harness" 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 0.1
  done
  # The dump written now (part 1: the success phase alone); the server's exit writes another.
  callgrind_control -d "$pid" > /dev/null 2>&1
  dump="$WORK/cg.$pid.out.1"
  wait "$harness"
  successes=$(grep -a '^\[success\]' "$log" | awk '{print $2}')
  ir=$(grep -a '^summary:' "$dump" 2>/dev/null | awk '{print $2}')
  if [ -z "$ir" ] || [ -z "$successes" ] || [ "$successes" -eq 0 ]; then
    echo "$bin: no measurement (dump $dump, successes '${successes}')" >&2
    exit 1
  fi
  echo "$bin: $((ir / successes)) instructions per success ($successes successes)"
  rm -f "$WORK"/cg.*
done
