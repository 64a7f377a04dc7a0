#!/usr/bin/env bash
# Time to first render of the staff console on a big shop: `shop seed` fills
# a fresh shop with ORDERS orders (default 1,000,000) and PRODUCTS products
# (default 1,000), `shop up` serves it with accounts on, and
# dashboard/scripts/console-render.mjs times in Chromium, signed in as staff,
# how long the orders page takes from navigation to its first page of rows
# and "1–50 of N", for a few views (cold and warm).
#   ./scripts/bench-console.sh            SQLite (files in a scratch directory)
#   ./scripts/bench-console.sh postgres   PostgreSQL on 127.0.0.1:5432 (a scratch
#                                         database, dropped afterwards)
set -euo pipefail
# shellcheck source=scripts/bench/lib.sh
source "$(dirname "$0")/bench/lib.sh"
orders="${ORDERS:-1000000}"
products="${PRODUCTS:-1000}"
backend="${1:-sqlite}"
password="bench staff passphrase"

[ -d dashboard/node_modules ] || (cd dashboard && npm ci --no-audit --no-fund --loglevel=error)
[ -x /usr/bin/chromium ] || { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium; }

scratch_store console "$backend"

echo "== $backend, $(nproc) cores, $(date -u +%Y-%m-%d), $orders orders"
"$bin" seed --orders "$orders" --products "$products" "${target[@]}"
SHOP_ADMIN_PASSWORD="$password" start console "${up[@]}"
(cd dashboard && node scripts/console-render.mjs "$gateway" admin@shop.local "$password" "${RUNS:-10}")
stop
