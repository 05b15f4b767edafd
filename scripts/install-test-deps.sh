#!/usr/bin/env bash
# Install what Latchkey's test suite needs on Debian 12 (bookworm). Idempotent.
#
#   scripts/install-test-deps.sh
#
# As root: installs missing apt packages (apt-get update only when something is
# missing) and creates/updates the Python venv used by tests.
# As a non-root user: installs nothing system-wide; prints exactly what is missing
# and exits 1 (the venv is still created if its location is writable).
#
# Environment:
#   LATCHKEY_VENV   Python venv for test helpers (default /opt/latchkey-venv)
#   PG_BIN          PostgreSQL binaries dir (default /usr/lib/postgresql/15/bin)
#   PYTHON          interpreter for the venv (default /usr/bin/python3, else python3)
#   LATCHKEY_SKIP_CARGO_FUZZ=1  do not install cargo-fuzz (the fuzz step of test.sh then skips)
set -euo pipefail

# ---- what the tests need (extend these lists; keep them one variable each) ----
# RADIUS: radclient/radtest (freeradius-utils), pam_radius_auth + pamtester for the PAM login.
# SMS: Kannel's bearerbox/smsbox (kannel) and its fake SMSC (kannel-extras), started by
# scripts/kannel-standin.sh on free ports; the system kannel service is not used.
# Security Console: Debian's chromium, driven by npm playwright-core (tests/console; never a
# browser download).
APT_PACKAGES="oathtool openssl freeradius-utils libpam-radius-auth pamtester kannel kannel-extras chromium"
PG_PACKAGE="postgresql-15"          # only installed if $PG_BIN/initdb is missing
PIP_PACKAGES="pyotp pyrad"
# cargo-fuzz (crates.io) runs the RADIUS codec fuzz target; `cargo install` builds it once.
CARGO_FUZZ_VERSION="0.13.2"
# -------------------------------------------------------------------------------

LATCHKEY_VENV=${LATCHKEY_VENV:-/opt/latchkey-venv}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
# Prefer Debian's system python (readable by every user) over e.g. a root-only pyenv shim.
if [ -z "${PYTHON:-}" ]; then
  if [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi
fi

log() { echo "install-test-deps: $*" >&2; }

pkg_installed() {
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]
}

# ---- apt packages ----
want=()
for p in $APT_PACKAGES; do want+=("$p"); done
if [ ! -x "$PG_BIN/initdb" ]; then want+=("$PG_PACKAGE"); fi
# python3 -m venv on Debian needs python3-venv (ensurepip)
if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then want+=("python3-venv"); fi
# node and npm for the console browser tests (any node >= 18 already installed will do)
if ! command -v node >/dev/null 2>&1; then want+=("nodejs"); fi
if ! command -v npm >/dev/null 2>&1; then want+=("npm"); fi

missing=()
for p in "${want[@]}"; do
  pkg_installed "$p" || missing+=("$p")
done

is_root=0; [ "$(id -u)" -eq 0 ] && is_root=1
problems=()
installed=()

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$is_root" -eq 1 ]; then
    log "installing apt packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq </dev/null >&2
    apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends "${missing[@]}" </dev/null >&2
    installed+=("${missing[@]}")
  else
    problems+=("apt packages missing; run: sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}")
  fi
fi

# ---- python venv ----
venv_ok() {
  [ -x "$LATCHKEY_VENV/bin/python" ] || return 1
  local m
  for m in $PIP_PACKAGES; do
    # pip distribution names are close enough to module names for our list
    "$LATCHKEY_VENV/bin/python" -c "import ${m//-/_}" >/dev/null 2>&1 || return 1
  done
}

venv_parent=$(dirname "$LATCHKEY_VENV")
if venv_ok; then
  :
elif [ "$is_root" -eq 1 ] || { [ -d "$LATCHKEY_VENV" ] && [ -w "$LATCHKEY_VENV" ]; } \
     || { [ ! -e "$LATCHKEY_VENV" ] && [ -w "$venv_parent" ]; }; then
  if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    problems+=("cannot create venv: '$PYTHON -m venv' unusable (install python3-venv)")
  else
    if [ ! -x "$LATCHKEY_VENV/bin/python" ]; then
      log "creating venv $LATCHKEY_VENV"
      rm -rf "$LATCHKEY_VENV"
      "$PYTHON" -m venv "$LATCHKEY_VENV" >&2
    fi
    log "pip installing into $LATCHKEY_VENV: $PIP_PACKAGES"
    # shellcheck disable=SC2086
    "$LATCHKEY_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        --no-input $PIP_PACKAGES </dev/null >&2
    venv_ok || problems+=("venv $LATCHKEY_VENV still lacks: $PIP_PACKAGES")
    installed+=("venv:$LATCHKEY_VENV($PIP_PACKAGES)")
  fi
else
  problems+=("python venv missing; run: $PYTHON -m venv $LATCHKEY_VENV && $LATCHKEY_VENV/bin/pip install $PIP_PACKAGES   (or set LATCHKEY_VENV to a writable path)")
fi

# ---- npm: playwright-core for the console browser tests (tests/console, from its lock file) ----
console_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/console"
if [ -d "$console_dir/node_modules/playwright-core" ]; then
  :
elif command -v npm >/dev/null 2>&1; then
  log "npm ci in $console_dir (playwright-core; no browser download)"
  if (cd "$console_dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund >&2 </dev/null); then
    installed+=("npm:playwright-core")
  else
    problems+=("npm ci in tests/console failed")
  fi
else
  problems+=("npm not found: cannot install playwright-core for tests/console")
fi

# ---- cargo-fuzz ----
# Installed for whoever runs this (it lands in ~/.cargo/bin, no root needed); skipped when a
# cargo-fuzz is already there.
if [ "${LATCHKEY_SKIP_CARGO_FUZZ:-}" = "1" ]; then
  :
elif cargo fuzz --version >/dev/null 2>&1; then
  :
elif command -v cargo >/dev/null 2>&1; then
  log "cargo install cargo-fuzz@$CARGO_FUZZ_VERSION --locked (once; a few minutes)"
  if cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked >&2 </dev/null; then
    installed+=("cargo-fuzz")
  else
    problems+=("cargo install cargo-fuzz --locked failed")
  fi
else
  problems+=("cargo not found: cannot install cargo-fuzz")
fi

# ---- final checks ----
for p in "${want[@]}"; do
  if [ "$is_root" -eq 1 ] && ! pkg_installed "$p"; then problems+=("apt package $p not installed"); fi
done
[ -x "$PG_BIN/initdb" ] || [ "$is_root" -eq 0 ] || problems+=("$PG_BIN/initdb still missing")

if [ "${#problems[@]}" -gt 0 ]; then
  for m in "${problems[@]}"; do echo "install-test-deps: MISSING: $m" >&2; done
  exit 1
fi

present="apt: ${want[*]}; postgres: $PG_BIN; venv: $LATCHKEY_VENV ($PIP_PACKAGES); cargo-fuzz; tests/console playwright-core"
if [ "${#installed[@]}" -gt 0 ]; then
  echo "install-test-deps: installed ${installed[*]} | present: $present"
else
  echo "install-test-deps: all present (nothing installed) | $present"
fi
