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

step "format"
cargo fmt --all -- --check

step "lint"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "tests"
# nextest runs each test in its own process and ends with one summary line.
if ! command -v cargo-nextest >/dev/null 2>&1; then
    cargo install --locked cargo-nextest
fi
cargo nextest run --workspace --locked --no-fail-fast
