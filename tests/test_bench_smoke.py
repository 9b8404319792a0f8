"""The benchmarks run end to end with tiny sizes and write a complete BENCHMARKS.md table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ROWS = (
    "Webhook ack throughput (req/s)",
    "Webhook ack p50 latency (ms)",
    "Webhook ack p99 latency (ms)",
    "Enforcement latency p50, 1 worker (ms)",
    "Enforcement latency p99, 1 worker (ms)",
    "Enforcement latency p50, 2 workers (ms)",
    "Enforcement latency p99, 2 workers (ms)",
    "Jira calls per compliant move",
    "Jira calls per violating move",
    "Jira calls per duplicate (Jira retry, same identifier)",
    "Jira calls per duplicate (same event, new identifier)",
    "Sustained enforcement, 1 worker (events/s per worker)",
    "Sustained enforcement, 2 workers (events/s, both)",
    "CAB agenda build, 150 changes (s)",
    "CAB agenda build, 150 changes (Jira calls)",
    "CAB agenda with its health section, 150 changes (Jira calls)",
    "CAB agenda with its health section, 150 changes (s)",
    "Deploy gate release p50, Jira approval → GitHub callback (ms)",
    "Deploy gate release p99, Jira approval → GitHub callback (ms)",
)


@pytest.mark.e2e  # webhooks through gunicorn, Redis and RQ worker processes: 25 s
def test_quick_bench_writes_every_row(tmp_path):
    output = tmp_path / "BENCHMARKS.md"
    run = subprocess.run([sys.executable, "-m", "bench", "--quick", "--output", str(output)],
                         cwd=ROOT, timeout=60, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-4000:]  # the bench's own traceback, if any
    text = output.read_text(encoding="utf-8")
    table = [line for line in text.splitlines() if line.startswith("| ")][1:]
    assert [line.split(" | ")[0].removeprefix("| ") for line in table] == list(ROWS)
    assert all(line.count(" | ") == 5 for line in table)
    ours = {line.split(" | ")[0].removeprefix("| "): line.split(" | ")[2] for line in table}
    assert ours["Jira calls per duplicate (Jira retry, same identifier)"] == "0"
    assert ours["Jira calls per duplicate (same event, new identifier)"] == "0"
    assert "- Machine: " in text and "Python 3." in text

