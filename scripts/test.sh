#!/usr/bin/env bash
# Install what the tests need and run the whole Latchkey test suite.
#
#   scripts/test.sh [ARGS...]        ARGS go to `cargo test`, e.g. scripts/test.sh -- --nocapture
#
# Steps: install test deps -> venv on PATH -> cargo fmt --check -> cargo clippy -D warnings
#        -> PostgreSQL (given or throwaway) -> cargo test --workspace --locked
#        -> cargo fuzz: each target of fuzz/ for a bounded time
#
# Environment knobs:
#   LATCHKEY_SKIP_LINT=1     skip cargo fmt / cargo clippy (quick local runs)
#   DATABASE_URL=postgres://...  use this server for tests instead of a throwaway cluster
#   LATCHKEY_VENV=DIR        Python venv with test helpers (default /opt/latchkey-venv)
#   PG_BIN=DIR               PostgreSQL binaries (default /usr/lib/postgresql/15/bin)
#   CI=true                  sets CARGO_TERM_COLOR=never, CARGO_INCREMENTAL=0 and
#                            LATCHKEY_REQUIRE_TOOLS=1
#   LATCHKEY_REQUIRE_TOOLS=1 tests fail (not skip) when an external tool (oathtool,
#                            postgres, radclient, pyrad, pamtester, cargo-fuzz ...) is
#                            missing; forced on when CI=true
#   LATCHKEY_FUZZ_SECONDS=N  seconds per fuzz target (default 60; 0 skips fuzzing)
# Exported to tests: LATCHKEY_TEST_POSTGRES_URL, LATCHKEY_VENV, PATH (venv bin first).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

START=$SECONDS
PG_DIR=""
step() { echo; echo "==> $*"; }

FUZZ_DIR=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$FUZZ_DIR" ]; then rm -rf "$FUZZ_DIR"; fi
  if [ -n "$PG_DIR" ]; then
    bash "$ROOT/scripts/pg-throwaway.sh" stop "$PG_DIR" || true
    rm -rf "$PG_DIR"
  fi
  echo
  if [ "$rc" -eq 0 ]; then
    echo "==> test.sh: OK in $((SECONDS - START))s"
  else
    echo "==> test.sh: FAILED (exit $rc) after $((SECONDS - START))s"
  fi
  if [ -n "${TOTALS:-}" ]; then
    echo "tests: $TOTALS"
  fi
  # Disk used by the build, so a growing footprint shows before a CI disk runs out.
  echo "disk: $(du -sh "$ROOT/target" 2>/dev/null | cut -f1) in target/, $(du -sh "$ROOT/fuzz/target" 2>/dev/null | cut -f1) in fuzz/target/"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "${CI:-}" = "true" ]; then
  export CARGO_TERM_COLOR=never
  export LATCHKEY_REQUIRE_TOOLS=1
  # A fresh clone never reuses incremental state; writing it would only cost disk and time.
  export CARGO_INCREMENTAL=0
fi

step "install test dependencies (scripts/install-test-deps.sh)"
bash "$ROOT/scripts/install-test-deps.sh"

step "environment"
export LATCHKEY_VENV=${LATCHKEY_VENV:-/opt/latchkey-venv}
export PATH="$LATCHKEY_VENV/bin:$PATH"
echo "LATCHKEY_VENV=$LATCHKEY_VENV"
echo "LATCHKEY_REQUIRE_TOOLS=${LATCHKEY_REQUIRE_TOOLS:-}"
cargo --version

if [ "${LATCHKEY_SKIP_LINT:-}" = "1" ]; then
  step "lint skipped (LATCHKEY_SKIP_LINT=1)"
else
  step "cargo fmt --all -- --check"
  cargo fmt --all -- --check

  step "cargo clippy --workspace --all-targets --locked -- -D warnings"
  cargo clippy --workspace --all-targets --locked -- -D warnings
fi

step "PostgreSQL"
case "${DATABASE_URL:-}" in
  postgres://*|postgresql://*)
    export LATCHKEY_TEST_POSTGRES_URL=$DATABASE_URL
    echo "using DATABASE_URL for LATCHKEY_TEST_POSTGRES_URL"
    ;;
  *)
    PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/latchkey-pg.XXXXXX")
    LATCHKEY_TEST_POSTGRES_URL=$(bash "$ROOT/scripts/pg-throwaway.sh" start "$PG_DIR")
    export LATCHKEY_TEST_POSTGRES_URL
    echo "throwaway cluster in $PG_DIR: $LATCHKEY_TEST_POSTGRES_URL"
    ;;
esac

# The PAM end-to-end tests (crates/latchkey/tests/it/offline_pam.rs) run the agent binary and
# the PAM module from target/debug, which `cargo test` alone does not build. Build them in the
# same invocation as the tests: one feature resolution (dev-dependencies included), so the
# binaries share every dependency with the tests instead of compiling a second copy.
step "cargo build --workspace --locked --lib --bins --tests"
cargo build --workspace --locked --lib --bins --tests

step "cargo test --workspace --locked $*"
TEST_LOG=$(mktemp)
cargo test --workspace --locked "$@" 2>&1 | tee "$TEST_LOG"
# Sum cargo's per-binary summaries into one closing line that counts every test run.
TOTALS=$(awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) s += $i } } END { printf "%d passed, %d failed, %d skipped", p, f, s }' "$TEST_LOG")
rm -f "$TEST_LOG"

# Fuzzing (cargo-fuzz, libFuzzer). The pinned toolchain is stable; cargo-fuzz needs nightly
# flags (-Zsanitizer), which RUSTC_BOOTSTRAP=1 unlocks on it. New inputs go to a temporary
# corpus, so the committed seeds in fuzz/corpus/ stay as they are; a crash fails the run and
# leaves its input where the output says (add it to fuzz/corpus/<target>/ once fixed).
FUZZ_SECONDS=${LATCHKEY_FUZZ_SECONDS:-60}
if [ "$FUZZ_SECONDS" = "0" ]; then
  step "fuzzing skipped (LATCHKEY_FUZZ_SECONDS=0)"
elif ! cargo fuzz --version >/dev/null 2>&1; then
  if [ "${LATCHKEY_REQUIRE_TOOLS:-}" = "1" ]; then
    echo "cargo-fuzz is required (LATCHKEY_REQUIRE_TOOLS=1) but not installed; run scripts/install-test-deps.sh" >&2
    exit 1
  fi
  step "fuzzing skipped: cargo-fuzz not installed (scripts/install-test-deps.sh installs it)"
else
  FUZZ_DIR=$(mktemp -d "${TMPDIR:-/tmp}/latchkey-fuzz.XXXXXX")
  for target in radius_codec offline_open; do
    secs=$FUZZ_SECONDS
    # offline_open gets a small budget: its parser is small and sits behind the signature.
    if [ "$target" = offline_open ] && [ "$secs" -gt 20 ]; then secs=20; fi
    step "cargo fuzz run $target for ${secs} s"
    mkdir -p "$FUZZ_DIR/$target"
    (cd "$ROOT/fuzz" && RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" \
        "$FUZZ_DIR/$target" "corpus/$target" -- \
        -max_total_time="$secs" -artifact_prefix="$FUZZ_DIR/" -print_final_stats=1) \
      || { echo "fuzz target $target failed; inputs in $FUZZ_DIR" >&2; FUZZ_DIR=""; exit 1; }
  done
fi
