"""Load generator (its own process): signed Jira deliveries to one 127.0.0.1 URL, bounded.

Each thread has its own requests.Session; every request carries a fresh
X-Atlassian-Webhook-Identifier and a fresh changelog id (a distinct event, signed anew), so
the endpoint dedupes, routes and enqueues a new job each time. Prints a JSON summary.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import itertools
import json
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import requests

FIXTURE = (Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "jira"
           / "issue_updated_status_to_awaiting_approval.json")


def _deliveries(template: dict, secret: str):
    """Yield (body, headers) of distinct signed deliveries of the fixture's event."""
    for changelog_id in itertools.count(1_000_000):
        template["changelog"]["id"] = str(changelog_id)
        body = json.dumps(template).encode()
        yield body, {
            "Content-Type": "application/json",
            "X-Atlassian-Webhook-Identifier": str(uuid.uuid4()),
            "X-Atlassian-Webhook-Flow": "Primary",
            "X-Hub-Signature": "sha256=" + hmac.new(secret.encode(), body,
                                                    hashlib.sha256).hexdigest(),
        }


def run(url: str, secret: str, requests_total: int, threads: int, seconds: float,
        warmup: int) -> dict:
    """Send up to ``requests_total`` deliveries (after ``warmup``) within ``seconds``."""
    if urlsplit(url).hostname != "127.0.0.1":
        raise SystemExit("loadgen only targets 127.0.0.1")
    source = _deliveries(json.loads(FIXTURE.read_text(encoding="utf-8")), secret)
    lock = threading.Lock()
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    remaining = [warmup]

    def next_delivery():
        with lock:
            return next(source)

    def worker(budget: list[int], deadline: float, record: bool) -> None:
        with requests.Session() as session:
            while time.monotonic() < deadline:
                with lock:
                    if budget[0] <= 0:
                        return
                    budget[0] -= 1
                body, headers = next_delivery()
                started = time.perf_counter()
                try:
                    status = str(session.post(url, data=body, headers=headers, timeout=10)
                                 .status_code)
                except requests.RequestException as exc:
                    status = type(exc).__name__
                elapsed = time.perf_counter() - started
                if record:
                    with lock:
                        latencies.append(elapsed)
                        statuses[status] = statuses.get(status, 0) + 1

    def phase(budget: list[int], deadline: float, record: bool) -> float:
        pool = [threading.Thread(target=worker, args=(budget, deadline, record))
                for _ in range(threads)]
        started = time.perf_counter()
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        return time.perf_counter() - started

    phase(remaining, time.monotonic() + seconds, record=False)
    elapsed = phase([requests_total], time.monotonic() + seconds, record=True)
    return {"count": len(latencies), "elapsed": elapsed, "statuses": statuses,
            "latencies": latencies}


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, run, print the JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--secret", required=True)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=int, default=100)
    args = parser.parse_args(argv)
    json.dump(run(args.url, args.secret, args.requests, args.threads, args.seconds, args.warmup),
              sys.stdout)


if __name__ == "__main__":
    main()
