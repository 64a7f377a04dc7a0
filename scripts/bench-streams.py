#!/usr/bin/env python3
"""Benchmark (not a test) of what open event streams and the dashboard's
script cost everyone else, on one `shop up` in one run:

1. the median and 90th percentile of a checkout (add to cart, order, pay)
   through the gateway with no event stream open;
2. the same with STREAMS streams open through the gateway (8 per loopback
   address, 127.0.0.2 and up, drained by a reader like real clients), and
   the shop's CPU use at rest while they are open;
3. the shop's CPU time per request for the dashboard's script, gzipped.

    scripts/bench-streams.py [--shop target/release/shop] [--streams 1000] [--checkouts 300]

Only the standard library; load from loopback only, bounded, and the shop
it starts is stopped at the end.
"""

import argparse
import http.client
import json
import os
import re
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time


def start_shop(binary, env):
    data = tempfile.mkdtemp(prefix="shop-bench-")
    ports = []
    for name in ("gateway", "catalog", "cart", "order", "payment", "identity"):
        ports += [f"--{name}-port", "0"]
    child = subprocess.Popen(
        [binary, "up", "--no-auth", "--data-dir", data, *ports],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    output = ""
    deadline = time.time() + 60
    while time.time() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        output += line
        if "Press Ctrl+C" in output:
            break
    match = re.search(r"gateway\s+(https?://[^\s/]+)", output)
    if not match:
        child.kill()
        sys.exit(f"shop up did not start:\n{output}")
    threading.Thread(target=lambda: child.stdout.read(), daemon=True).start()
    return child, match.group(1)


class Client:
    """One kept-alive connection to the gateway."""

    def __init__(self, url):
        host, port = url.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=30)

    def call(self, method, path, body=None, headers=None):
        headers = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["content-type"] = "application/json"
        self.conn.request(method, path, body=data, headers=headers)
        response = self.conn.getresponse()
        payload = response.read()
        return response.status, payload, response


def checkout(client, product, user):
    status, _, _ = client.call(
        "POST", f"/api/cart/cart/{user}/items", {"product_id": product, "quantity": 1}
    )
    assert status == 200, status
    status, body, _ = client.call("POST", "/api/order/orders", {"user_id": user})
    assert status == 201, (status, body)
    order = json.loads(body)["id"]
    status, body, _ = client.call("POST", f"/api/order/orders/{order}/payment")
    assert status == 200 and json.loads(body)["status"] == "paid", (status, body)


def checkouts(url, product, count, label):
    client = Client(url)
    for i in range(20):  # warm-up
        checkout(client, product, f"warm-{label}-{i}")
    times = []
    for i in range(count):
        start = time.perf_counter()
        checkout(client, product, f"{label}-{i}")
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.9)]


def cpu_seconds(pid):
    """User plus system CPU time of the process so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def open_streams(url, count):
    host, port = url.removeprefix("http://").split(":")
    streams = []
    refused = 0
    for i in range(count):
        source = f"127.0.0.{2 + i // 8}"
        sock = socket.socket()
        sock.bind((source, 0))
        sock.connect((host, int(port)))
        sock.sendall(
            b"GET /api/order/events/stream HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                break
            head += chunk
        if head.startswith(b"HTTP/1.1 200"):
            streams.append(sock)
        else:
            refused += 1
            sock.close()
    return streams, refused


def drain(streams, stop, received):
    selector = selectors.DefaultSelector()
    for sock in streams:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
    while not stop.is_set():
        for key, _ in selector.select(timeout=0.2):
            try:
                data = key.fileobj.recv(65536)
            except BlockingIOError:
                continue
            if data:
                received[0] += len(data)
            else:
                selector.unregister(key.fileobj)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shop", default="target/release/shop")
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--checkouts", type=int, default=300)
    args = parser.parse_args()

    env = {
        "PAYMENT_SUCCESS_RATE": "1",
        "RUST_LOG": "warn",
        # Room for the benchmark's streams (the default caps are 512 in all).
        "EVENT_STREAMS_MAX": str(args.streams + 100),
    }
    child, url = start_shop(args.shop, env)
    try:
        client = Client(url)
        status, body, _ = client.call(
            "POST",
            "/api/catalog/products",
            {"name": "Bench", "price": 1.5, "stock": 1_000_000, "category": "Bench"},
        )
        assert status == 201, (status, body)
        product = json.loads(body)["id"]

        none_median, none_p90 = checkouts(url, product, args.checkouts, "none")

        streams, refused = open_streams(url, args.streams)
        stop = threading.Event()
        received = [0]
        reader = threading.Thread(target=drain, args=(streams, stop, received), daemon=True)
        reader.start()
        time.sleep(1)
        before = cpu_seconds(child.pid)
        time.sleep(5)
        rest_cpu = (cpu_seconds(child.pid) - before) / 5 * 100
        with_median, with_p90 = checkouts(url, product, args.checkouts, "streams")
        stop.set()
        reader.join()

        _, index, _ = client.call("GET", "/")
        script = re.search(rb'src="(/assets/[^"]+\.js)"', index).group(1).decode()
        gzip = {"accept-encoding": "gzip"}
        client.call("GET", script, headers=gzip)
        requests = 200
        before = cpu_seconds(child.pid)
        start = time.perf_counter()
        for _ in range(requests):
            status, payload, response = client.call("GET", script, headers=gzip)
            assert status == 200 and response.getheader("content-encoding") == "gzip"
        wall = (time.perf_counter() - start) / requests * 1000
        script_cpu = (cpu_seconds(child.pid) - before) / requests * 1000

        print(f"shop: {args.shop}; {os.cpu_count()} cores; {args.checkouts} checkouts each")
        print(f"{'':34} {'median ms':>10} {'p90 ms':>8}")
        print(f"{'checkout, no stream open':34} {none_median:10.1f} {none_p90:8.1f}")
        label = f"checkout, {len(streams)} streams open"
        print(f"{label:34} {with_median:10.1f} {with_p90:8.1f}")
        print(f"ratio of medians: {with_median / none_median:.2f}")
        print(f"streams refused: {refused}; bytes the streams received: {received[0]}")
        print(f"CPU at rest with the streams open: {rest_cpu:.1f} % of one core")
        print(
            f"dashboard script ({len(payload)} bytes gzipped): "
            f"{script_cpu:.2f} ms CPU and {wall:.2f} ms per request"
        )
        for sock in streams:
            sock.close()
    finally:
        child.send_signal(signal.SIGINT)
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()


if __name__ == "__main__":
    main()
