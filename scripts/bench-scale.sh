#!/usr/bin/env bash
# Shop at scale: `shop seed` fills a fresh shop with ORDERS orders and
# PRODUCTS products (default 1,000,000 each), then scripts/bench/latency.py
# times the first and the last page of the order and product lists (by
# cursor, and the last by the seed's skip for comparison), filters, sorts,
# searches and /stats, each over one keep-alive connection.
#   ./scripts/bench-scale.sh             SQLite (files in a scratch directory)
#   ./scripts/bench-scale.sh postgres    PostgreSQL on 127.0.0.1:5432 (a scratch
#                                        database, dropped afterwards)
set -euo pipefail
# shellcheck source=scripts/bench/lib.sh
source "$(dirname "$0")/bench/lib.sh"
orders="${ORDERS:-1000000}"
products="${PRODUCTS:-1000000}"
backend="${1:-sqlite}"

scratch_store scale "$backend"

echo "== $backend, $(nproc) cores, $(date -u +%Y-%m-%d)"
started=$(date +%s.%N)
"$bin" seed --orders "$orders" --products "$products" "${target[@]}"
echo "seeded in $(printf '%.0f' "$(echo "$(date +%s.%N) - $started" | bc)") s"
start scale --no-auth "${up[@]}"
order=$(url order scale)
python3 scripts/bench/latency.py "$order" "$catalog" "${REQUESTS:-50}"
stop
