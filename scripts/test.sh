#!/usr/bin/env bash
# Runs every check and test of Shop, installing what they need first.
# This is the README's test command; .ci/run runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"

step "test broker"
# The Kafka tests run Tansu, a Kafka-compatible broker from crates.io
# (about 8 minutes to build once; reused afterwards).
if ! command -v tansu >/dev/null 2>&1 && [ ! -x "$cargo_bin/tansu" ]; then
    cargo install --locked tansu --version 0.6.0 --features dynostore
fi

step "browser for the dashboard tests"
if [ ! -x /usr/bin/chromium ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium
fi

step "dashboard: install, API types up to date, type-check and build, unit tests"
# The API types are generated from the services' OpenAPI documents; the
# check fails when they were not regenerated after an API change.
(cd dashboard && npm ci --no-audit --no-fund --loglevel=error && npm run api:types -- --check \
    && npm run build && npm test)

step "format"
cargo fmt --all -- --check

step "lint"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "PostgreSQL"
# The machine's PostgreSQL (127.0.0.1:5432, trust auth), which the replica
# tests, one Kafka test and the PostgreSQL run of the API tests use (each
# test creates and drops a database of its own): started when it is down,
# and the run stops here, in one line, when it cannot be had.
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    cluster="$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf "%f\n" 2>/dev/null | head -n 1)"
    if [ -n "$cluster" ]; then
        pg_ctlcluster --skip-systemctl-redirect "$cluster" main start >/dev/null 2>&1 || true
        for _ in $(seq 50); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.2; done
    fi
    if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
        echo "test.sh: PostgreSQL is not answering on 127.0.0.1:5432 and could not be started; start it (trust auth) and run again" >&2
        exit 1
    fi
fi

step "tests"
# nextest runs each test in its own process and ends with one summary line.
if ! command -v cargo-nextest >/dev/null 2>&1; then
    cargo install --locked cargo-nextest
fi
cargo nextest run --workspace --locked --no-fail-fast

step "tests on PostgreSQL"
SHOP_TEST_BACKEND=postgres cargo nextest run -p shop --locked --no-fail-fast --test api

step "deployment files: lint, validate, run compose and the kind overlay locally"
./scripts/check-deploy.sh

step "dashboard end to end (Chromium against shop up)"
(cd dashboard && SHOP_BIN="$PWD/../target/debug/shop" npm run e2e)
