# shellcheck shell=bash
# What the benchmarks share (sourced by scripts/bench*.sh, not run): wrk, a
# release build, a scratch directory removed on exit, a scratch store for
# `shop seed`, and `shop up` started and stopped on free ports.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root" || exit 1
duration="${DURATION:-10}"
command -v wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --quiet --release --locked -p shop
bin="$root/target/release/shop"
work="$(mktemp -d)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# Starts shop up named $1 with the extra arguments after it; sets $catalog
# $cart $gateway.
start() {
    RUST_LOG=warn "$bin" up --data-dir "$work/data-$1" --gateway-port 0 --catalog-port 0 \
        --cart-port 0 --order-port 0 --payment-port 0 --identity-port 0 "${@:2}" > "$work/up-$1.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do grep -q "Press Ctrl+C" "$work/up-$1.log" 2>/dev/null && break; sleep 0.1; done
    url() { awk -v s="$1" '$1 == s { sub(/\/$/, "", $2); print $2 }' "$work/up-$2.log"; }
    # Read by the scripts that source this one.
    # shellcheck disable=SC2034
    {
        catalog=$(url catalog "$1")
        cart=$(url cart "$1")
        gateway=$(url gateway "$1")
    }
}

# Where `shop seed` and `start` $1 keep their data, by backend $2: SQLite
# files in $work/data-$1 (start's default), or with `postgres` a scratch
# database on 127.0.0.1:5432 dropped on exit. Sets $target (for seed) and
# $up (for start).
scratch_store() {
    # Read by the scripts that source this one.
    # shellcheck disable=SC2034
    target=(--data-dir "$work/data-$1")
    up=()
    if [ "$2" = postgres ]; then
        database="shop_$1_$$"
        psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE $database" postgres
        trap 'cleanup; psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $database" postgres' EXIT
        target=(--database-url "postgres://postgres@127.0.0.1:5432/$database")
        # shellcheck disable=SC2034
        up=("${target[@]}")
    fi
}

stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }

# Requests per second of wrk on the arguments.
rate() { wrk -t2 -c32 -d"${duration}s" "$@" | awk '/Requests\/sec/ { printf "%.0f", $2 }'; }
