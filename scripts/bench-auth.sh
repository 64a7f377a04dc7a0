#!/usr/bin/env bash
# What token checks cost: product reads and cart reads per second, through
# the gateway, with AUTH=off and with AUTH=on (cart reads with the owner's
# access token), one shop after the other in one run.
#   ./scripts/bench-auth.sh         (DURATION=10 seconds per measurement)
# Needs wrk (installed from Debian when missing) and python3.
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

# Starts shop up with the given extra arguments; sets $gateway.
start() {
    RUST_LOG=warn "$bin" up --data-dir "$work/data-$1" --gateway-port 0 --catalog-port 0 \
        --cart-port 0 --order-port 0 --payment-port 0 --identity-port 0 "${@:2}" > "$work/up-$1.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do grep -q "Press Ctrl+C" "$work/up-$1.log" 2>/dev/null && break; sleep 0.1; done
    gateway=$(awk '$1 == "gateway" { sub(/\/$/, "", $2); print $2 }' "$work/up-$1.log")
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }
rate() { wrk -t2 -c32 -d"${duration}s" "$@" | awk '/Requests\/sec/ { printf "%.0f", $2 }'; }
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

# A customer with three lines in their cart; prints "user token".
customer() {
    local api="$gateway/api" login
    curl -sf -X POST "$api/identity/auth/register" -H 'content-type: application/json' \
        -d '{"email": "bench@example.com", "password": "bench passphrase", "name": "Bench"}' > /dev/null
    login=$(curl -sf -X POST "$api/identity/auth/login" -H 'content-type: application/json' \
        -d '{"email": "bench@example.com", "password": "bench passphrase"}')
    echo "$(echo "$login" | json "['account']['id']") $(echo "$login" | json "['access_token']")"
}

start off
read -r user _ <<< "u1 none"
for product in 1 2 3; do
    curl -sf "$gateway/api/cart/cart/$user/items" -d "{\"product_id\": $product, \"quantity\": 1}" > /dev/null
done
off_products=$(rate "$gateway/api/catalog/products/1")
off_carts=$(rate "$gateway/api/cart/cart/$user")
stop

start on --auth
read -r user token <<< "$(customer)"
for product in 1 2 3; do
    curl -sf "$gateway/api/cart/cart/$user/items" -H "authorization: Bearer $token" \
        -d "{\"product_id\": $product, \"quantity\": 1}" > /dev/null
done
on_products=$(rate "$gateway/api/catalog/products/1")
on_carts=$(rate -H "authorization: Bearer $token" "$gateway/api/cart/cart/$user")
stop

echo "requests/s through the gateway, wrk -t2 -c32 -d${duration}s, $(nproc) cores"
printf '%-28s %10s %10s\n' "" "AUTH=off" "AUTH=on"
printf '%-28s %10s %10s\n' "product reads (anonymous)" "$off_products" "$on_products"
printf '%-28s %10s %10s\n' "cart reads (owner's token)" "$off_carts" "$on_carts"
