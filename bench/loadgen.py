"""A small HTTP load client, for when ``wrk`` is not installed (and for ``--quick`` runs).

Run as its own process so the load does not share the measured side's interpreter:

    python -m bench.loadgen URL --cookie 'session=…' --connections 2 --duration 10

prints one JSON line: requests, non-200 responses, errors, and latency percentiles in µs.
``--first-lines N`` times a download to its first N lines (a CSV's header and first rows).
"""

from __future__ import annotations

import argparse
import http.client
import json
import threading
import time
from urllib.parse import urlsplit

from bench import percentile


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--cookie", default="")
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--requests", type=int, default=0, help="stop after this many instead")
    parser.add_argument(
        "--first-lines",
        type=int,
        default=0,
        help="a download: time each to this many lines of its body, then hang up",
    )
    args = parser.parse_args(argv)
    parts = urlsplit(args.url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    headers = {"Cookie": args.cookie} if args.cookie else {}
    latencies: list[float] = []
    counts = {"non_200": 0, "errors": 0}
    lock = threading.Lock()
    deadline = time.perf_counter() + args.duration
    issued = iter(range(args.requests)) if args.requests else None

    def loop():
        conn = None
        while True:
            if issued is not None:
                with lock:
                    if next(issued, None) is None:
                        break
            elif time.perf_counter() >= deadline:
                break
            start = time.perf_counter()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                status = response.status
                if args.first_lines:
                    for _ in range(args.first_lines):
                        response.readline()
                    # The rest is left unread and the connection closed: what is timed is how
                    # soon the download starts, not how long a million rows take. The response
                    # holds the socket too: closed with it, or gunicorn lingers 2 s on it.
                    response.close()
                    conn.close()
                    conn = None
                else:
                    response.read()
                    if response.getheader("Connection", "").lower() == "close":
                        conn.close()
                        conn = None
            except (OSError, http.client.HTTPException):
                status = None
                conn = None
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)
                if status is None:
                    counts["errors"] += 1
                elif status != 200:
                    counts["non_200"] += 1

    threads = [threading.Thread(target=loop) for _ in range(args.connections)]
    begin = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - begin
    us = [x * 1e6 for x in latencies]
    print(
        json.dumps(
            {
                "requests": len(latencies),
                "seconds": wall,
                "non_200": counts["non_200"],
                "errors": counts["errors"],
                "p50": percentile(us, 50),
                "p95": percentile(us, 95),
                "p99": percentile(us, 99),
                "max": max(us, default=0),
            }
        )
    )


if __name__ == "__main__":
    main()
