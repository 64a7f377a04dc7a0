"""Latencies of Shop's list endpoints at scale (used by scripts/bench-scale.sh).

    python3 latency.py ORDER_URL CATALOG_URL [REQUESTS]

Each scenario: a few warm-up requests, then REQUESTS (default 50) one after
the other over one keep-alive connection; prints a Markdown table of the
median and 95th percentile in milliseconds, and checks every answer (200, a
JSON array or object of the expected size).
"""

import base64
import http.client
import json
import statistics
import sys
import time
import urllib.parse


def connection(base):
    parsed = urllib.parse.urlparse(base)
    return http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)


def get(conn, path):
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    if response.status != 200:
        raise SystemExit(f"GET {path}: {response.status} {body[:200]!r}")
    return json.loads(body), response.getheader("link")


def cursor(key, row_id):
    raw = json.dumps([key, row_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def timed(conn, path, check, requests):
    for _ in range(3):
        check(get(conn, path)[0])
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        body, _ = get(conn, path)
        samples.append((time.perf_counter() - started) * 1000)
        check(body)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def rows(n):
    def check(body):
        if not isinstance(body, list) or len(body) != n:
            raise SystemExit(f"expected {n} rows, got {len(body) if isinstance(body, list) else body}")
    return check


def some(body):
    if not isinstance(body, list):
        raise SystemExit(f"expected a list, got {body}")


def stats(body):
    if "revenue" not in body or len(body["series"]) < 30:
        raise SystemExit(f"unexpected stats {body}")


def hourly(body):
    if "revenue" not in body or len(body["series"]) < 24:
        raise SystemExit(f"unexpected stats {body}")


def main():
    order, catalog = sys.argv[1], sys.argv[2]
    requests = int(sys.argv[3]) if len(sys.argv) > 3 else 50
    o, c = connection(order), connection(catalog)
    page = 50

    # The cursor of the last page: the 51st oldest order (newest first, the
    # last page holds the 50 oldest), as its Link header would name it.
    oldest, _ = get(o, f"/orders?order=asc&limit={page + 1}")
    last_orders = cursor(None, oldest[page]["id"])
    count = get(o, "/stats?from=2000-01-01")[0]["orders"]
    newest_products, _ = get(c, f"/products?order=desc&limit={page + 1}")
    last_products = cursor(None, newest_products[page]["id"])
    products = newest_products[0]["id"]

    scenarios = [
        ("orders: first page", o, f"/orders?limit={page}", rows(page)),
        ("orders: last page (cursor)", o, f"/orders?limit={page}&after={last_orders}", rows(page)),
        ("orders: last page (skip, the seed's way)", o, f"/orders?limit={page}&skip={count - page}", rows(page)),
        ("orders: status=processing, first page", o, f"/orders?limit={page}&status=processing", some),
        ("orders: one customer's", o, "/orders?limit=50&user_id=customer-42", some),
        ("orders: largest first", o, f"/orders?limit={page}&sort=total", rows(page)),
        ("products: first page", c, f"/products?limit={page}", rows(page)),
        ("products: last page (cursor)", c, f"/products?limit={page}&after={last_products}", rows(page)),
        ("products: category, cheapest first", c, f"/products?limit={page}&category=kitchen&sort=price", rows(page)),
        ("stats: last 30 days by day", o, "/stats", stats),
        ("stats: last 24 hours by hour", o, "/stats?bucket=hour&from=" + urllib.parse.quote(
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 86400))), hourly),
    ]
    searches = ["walnut kettle", "ergonomic oak", "linen blanket", "steel", "Vintage Brass Lamp", f"item {products - 7}."]
    print(f"{count:,} orders, {products:,} products; {requests} requests per scenario\n")
    print("| scenario | p50 ms | p95 ms |")
    print("|---|---|---|")
    for name, conn, path, check in scenarios:
        p50, p95 = timed(conn, path, check, requests)
        print(f"| {name} | {p50:.1f} | {p95:.1f} |", flush=True)
    all_search = []
    for term in searches:
        path = "/products?limit=20&search=" + urllib.parse.quote(term)
        p50, p95 = timed(c, path, some, requests)
        all_search.append(p50)
        print(f"| search `{term}` | {p50:.1f} | {p95:.1f} |", flush=True)
    print(f"| search: median of the medians | {statistics.median(all_search):.1f} | |")


if __name__ == "__main__":
    main()
