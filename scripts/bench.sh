#!/usr/bin/env bash
# Load benchmark on loopback: product reads, cart reads and checkouts per
# second, on SQLite and on PostgreSQL, side by side in one run.
#   ./scripts/bench.sh            (DURATION=10 seconds per measurement)
# Needs wrk (installed from Debian when missing) and, for the PostgreSQL
# column, the machine's PostgreSQL on 127.0.0.1:5432 (trust auth).
set -euo pipefail
# shellcheck source=scripts/bench/lib.sh
source "$(dirname "$0")/bench/lib.sh"

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
start sqlite --no-auth
measure sqlite
stop

if pg_isready -q -h 127.0.0.1 -p 5432; then
    db="shop_bench_$$"
    psql -q -h 127.0.0.1 -U postgres -d test -c "CREATE DATABASE $db"
    start postgres --no-auth --database-url "postgres://postgres@127.0.0.1:5432/$db"
    measure postgres
    stop
    psql -q -h 127.0.0.1 -U postgres -d test -c "DROP DATABASE $db WITH (FORCE)"
else
    echo "postgres     (PostgreSQL not running on 127.0.0.1:5432)"
fi
