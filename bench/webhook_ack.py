"""Webhook acknowledgement: throughput and latency of POST /webhooks/jira against bare Flask."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass

from .report import Row, percentile
from .stack import ROOT, SECRET, Stack

TARGET_RATIO = 0.7
MISSED = ("per delivery the endpoint verifies the HMAC, parses the JSON, asks Redis whether the "
          "delivery was seen (EXISTS), enqueues (RQ's unique enqueue), then notes the delivery "
          "(SET; after the enqueue, so that Redis failing in between loses nothing), and logs "
          "one line; on 2 cores shared with the load generator that costs a share of the bare "
          "ceiling. Reaching 0.7: more gunicorn workers than the Procfile's 2 (or gthread "
          "workers), LOG_LEVEL=WARNING in production, orjson for the parse, and the seen-check, "
          "enqueue and note in one Lua script (one round trip).")


@dataclass(frozen=True)
class Sizes:
    requests: int = 3000
    threads: int = 8
    seconds: float = 25
    warmup: int = 200
    rounds: int = 2


def load(url: str, sizes: Sizes) -> dict:
    """Run the load generator in its own process against ``url``; return its summary."""
    result = subprocess.run(
        [sys.executable, "-m", "bench.loadgen", url, "--secret", SECRET,
         "--requests", str(sizes.requests), "--threads", str(sizes.threads),
         "--seconds", str(sizes.seconds), "--warmup", str(sizes.warmup)],
        cwd=ROOT, capture_output=True, text=True, timeout=2 * sizes.seconds + 60, check=True)
    summary = json.loads(result.stdout)
    latencies = summary.pop("latencies")
    summary["rps"] = summary["count"] / summary["elapsed"]
    summary["p50"] = percentile(latencies, 0.50) * 1000
    summary["p99"] = percentile(latencies, 0.99) * 1000
    return summary


def run(stack: Stack, sizes: Sizes = Sizes()) -> list[Row]:
    """Measure the bare endpoint, then changeguard's, under the same gunicorn settings."""
    bare = stack.start_web("bench.bare_app:app")
    ours_server = stack.start_web("wsgi:app")
    # Alternate the two and keep each one's best round: other processes on the machine only
    # ever slow a round down.
    ceilings, ourses = [], []
    for _ in range(sizes.rounds):
        ceilings.append(load(bare.url + "/webhooks/jira", sizes))
        ourses.append(load(ours_server.url + "/webhooks/jira", sizes))
    ceiling = max(ceilings, key=lambda summary: summary["rps"])
    ours = max(ourses, key=lambda summary: summary["rps"])
    accepted = ours["statuses"].get("202", 0)
    how = (f"{sizes.threads} client threads in a separate process, {ours['count']} signed "
           f"deliveries after {sizes.warmup} warm-up, best of {sizes.rounds} alternating rounds; "
           f"gunicorn --workers 2 (sync), as the Procfile; statuses ours {ours['statuses']}, bare {ceiling['statuses']}. "
           f"{accepted} of ours were 202 (enqueued a new job each).")
    rps_ratio = ours["rps"] / ceiling["rps"]
    p50_ratio = ceiling["p50"] / ours["p50"]
    p99_ratio = ceiling["p99"] / ours["p99"]
    return [
        Row("Webhook ack throughput (req/s)", f"{ceiling['rps']:.0f} (bare Flask 204)",
            f"{ours['rps']:.0f}", rps_ratio, f"≥ {TARGET_RATIO} of ceiling",
            rps_ratio >= TARGET_RATIO, how, MISSED),
        Row("Webhook ack p50 latency (ms)", f"{ceiling['p50']:.1f}", f"{ours['p50']:.1f}",
            p50_ratio, f"≥ {TARGET_RATIO} (ceiling ÷ ours)", p50_ratio >= TARGET_RATIO,
            if_missed=MISSED),
        Row("Webhook ack p99 latency (ms)", f"{ceiling['p99']:.1f}", f"{ours['p99']:.1f}",
            p99_ratio, f"≥ {TARGET_RATIO} (ceiling ÷ ours)", p99_ratio >= TARGET_RATIO,
            if_missed=MISSED),
    ]
