#!/usr/bin/env bash
# Load benchmark on loopback: product reads, cart reads and checkouts per
# second, on SQLite and on PostgreSQL, side by side in one run.
#   ./scripts/bench.sh            (DURATION=10 seconds per measurement)
# Needs wrk (installed from Debian when missing) and, for the PostgreSQL
# column, the machine's PostgreSQL on 127.0.0.1:5432 (trust auth).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
duration="${DURATION:-10}"
command -v wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --quiet --release --locked -p shop
bin="$root/target/release/shop"
work="$(mktemp -d)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# Starts shop up with the given extra arguments; sets $catalog $cart $gateway.
start() {
    RUST_LOG=warn "$bin" up --data-dir "$work/data-$1" --gateway-port 0 --catalog-port 0 \
        --cart-port 0 --order-port 0 --payment-port 0 --identity-port 0 "${@:2}" > "$work/up-$1.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do grep -q "Press Ctrl+C" "$work/up-$1.log" 2>/dev/null && break; sleep 0.1; done
    url() { awk -v s="$1" '$1 == s { sub(/\/$/, "", $2); print $2 }' "$work/up-$2.log"; }
    catalog=$(url catalog "$1"); cart=$(url cart "$1"); gateway=$(url gateway "$1")
}

stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }

rate() { wrk -t2 -c32 -d"${duration}s" "$@" | awk '/Requests\/sec/ { printf "%.0f", $2 }'; }

measure() {
    curl -sf -X PUT "$catalog/products/2" -d '{"stock": 1000000000}' > /dev/null
    for product in 1 2 3; do
        curl -sf "$cart/cart/reader/items" -d "{\"product_id\": $product, \"quantity\": 1}" > /dev/null
    done
    reads=$(rate "$catalog/products/1")
    carts=$(rate "$cart/cart/reader")
    checkouts=$(wrk -t2 -c16 -d"${duration}s" -s scripts/bench/checkout.lua "$gateway" | awk '/^checkouts:/ { print $8 }')
    printf '%-12s %16s %16s %16s\n' "$1" "$reads" "$carts" "$checkouts"
}

printf '%-12s %16s %16s %16s\n' backend "product reads/s" "cart reads/s" "checkouts/s"
start sqlite
measure sqlite
stop

if pg_isready -q -h 127.0.0.1 -p 5432; then
    db="shop_bench_$$"
    psql -q -h 127.0.0.1 -U postgres -d test -c "CREATE DATABASE $db"
    start postgres --database-url "postgres://postgres@127.0.0.1:5432/$db"
    measure postgres
    stop
    psql -q -h 127.0.0.1 -U postgres -d test -c "DROP DATABASE $db WITH (FORCE)"
else
    echo "postgres     (PostgreSQL not running on 127.0.0.1:5432)"
fi
