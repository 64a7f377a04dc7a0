#!/usr/bin/env bash
# Relay throughput: N orders (one event each) are written while the broker
# is down, then the broker starts and the relay drains the outbox.
#   N=2000 ./scripts/bench-relay.sh
# Needs tansu (scripts/test.sh installs it) and curl.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
n="${N:-2000}"
tansu="$(command -v tansu || echo "${CARGO_HOME:-$HOME/.cargo}/bin/tansu")"
[ -x "$tansu" ] || { echo "bench-relay: tansu is missing (run scripts/test.sh once)" >&2; exit 1; }
cargo build --quiet --release --locked -p shop
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:$port" RUST_LOG=error target/release/shop up --no-auth --data-dir "$work/data" \
    --gateway-port 0 --catalog-port 0 --cart-port 0 --order-port 0 --payment-port 0 --identity-port 0 > "$work/up.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "Press Ctrl+C" "$work/up.log" 2>/dev/null && break; sleep 0.1; done
url() { awk -v s="$1" '$1 == s { sub(/\/$/, "", $2); print $2 }' "$work/up.log"; }
catalog=$(url catalog); cart=$(url cart); order=$(url order)
metric() { curl -s "$order/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }

curl -sf -X PUT "$catalog/products/2" -d '{"stock": 1000000000}' > /dev/null
for i in $(seq "$n"); do
    curl -sf "$cart/cart/relay$i/items" -d '{"product_id": 2, "quantity": 1}' > /dev/null
    curl -sf "$order/orders" -d "{\"user_id\": \"relay$i\"}" > /dev/null
done

"$tansu" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
    --storage-engine memory://tansu/ > "$work/tansu.log" 2>&1 &
pids+=($!)
started=$(date +%s.%N); first=""; firstp=0
while true; do
    published=$(metric outbox_events_published_total); published=${published:-0}
    now=$(date +%s.%N)
    if [ -z "$first" ] && [ "$published" -gt 0 ]; then first=$now; firstp=$published; fi
    [ "$published" -ge "$n" ] && break
    sleep 0.02
done
python3 - "$n" "$started" "$first" "$now" "$firstp" "$published" <<'PY'
import sys
n, started, first, now, firstp, published = sys.argv[1:]
n, firstp, published = int(n), int(firstp), int(published)
started, first, now = float(started), float(first), float(now)
rate = (published - firstp) / (now - first) if now > first else float("inf")
print(f"relay: {n} events published {now - started:.2f} s after the broker started; "
      f"{rate:,.0f} events/s once publishing began")
PY
