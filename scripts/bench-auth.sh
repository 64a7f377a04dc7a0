#!/usr/bin/env bash
# What token checks cost: product reads and cart reads per second, through
# the gateway, with AUTH=off and with AUTH=on (cart reads with the owner's
# access token, and with the dashboard's session cookie, which the gateway
# turns into that token), one shop after the other in one run.
#   ./scripts/bench-auth.sh         (DURATION=10 seconds per measurement)
# Needs wrk (installed from Debian when missing) and python3.
set -euo pipefail
# shellcheck source=scripts/bench/lib.sh
source "$(dirname "$0")/bench/lib.sh"
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

start off --no-auth
read -r user _ <<< "u1 none"
for product in 1 2 3; do
    curl -sf "$gateway/api/cart/cart/$user/items" -d "{\"product_id\": $product, \"quantity\": 1}" > /dev/null
done
off_products=$(rate "$gateway/api/catalog/products/1")
off_carts=$(rate "$gateway/api/cart/cart/$user")
stop

start on
read -r user token <<< "$(customer)"
for product in 1 2 3; do
    curl -sf "$gateway/api/cart/cart/$user/items" -H "authorization: Bearer $token" \
        -d "{\"product_id\": $product, \"quantity\": 1}" > /dev/null
done
on_products=$(rate "$gateway/api/catalog/products/1")
on_carts=$(rate -H "authorization: Bearer $token" "$gateway/api/cart/cart/$user")
cookie=$(curl -sf -D - -o /dev/null -X POST "$gateway/api/session" -H "origin: $gateway" \
    -H 'content-type: application/json' \
    -d '{"email": "bench@example.com", "password": "bench passphrase"}' \
    | awk -F'[ ;]' 'tolower($1) == "set-cookie:" { print $2 }')
on_cookie_carts=$(rate -H "cookie: $cookie" "$gateway/api/cart/cart/$user")
stop

echo "requests/s through the gateway, wrk -t2 -c32 -d${duration}s, $(nproc) cores"
printf '%-28s %10s %10s\n' "" "AUTH=off" "AUTH=on"
printf '%-28s %10s %10s\n' "product reads (anonymous)" "$off_products" "$on_products"
printf '%-28s %10s %10s\n' "cart reads (owner's token)" "$off_carts" "$on_carts"
printf '%-28s %10s %10s\n' "cart reads (session cookie)" "-" "$on_cookie_carts"
