"""Enforcement latency: from the sandbox committing a disallowed move to its revert, 1 and 2 workers."""

from __future__ import annotations

from dataclasses import dataclass

from tests.builders import wait_until

from .report import Row, percentile
from .scenario import INCOMPLETE, connect_web, move_time, quiesce, seed_changes
from .stack import Stack

TARGET_P50_MS = 250
TARGET_P99_MS = 1000
MISSED = ("the path is webhook delivery → gunicorn → Redis → an RQ worker that forks a work "
          "horse per job → two or more Jira round trips before the revert (read, transitions) "
          "→ the revert. On a loaded machine the fork and the Python start-up of the work horse "
          "dominate; RQ's SimpleWorker (no fork per job) or caching the transition ids per "
          "workflow status would take one fork and one Jira round trip off every revert.")


@dataclass(frozen=True)
class Sizes:
    moves: int = 100


def measure(stack: Stack, keys: list[str]) -> tuple[list[float], list[float]]:
    """Move each issue into Awaiting Approval, one at a time; return delivery and revert latencies."""
    jira = stack.jira
    alice, bot = jira.users["alice"].account_id, jira.bot.account_id
    delivered, reverted = [], []
    for key in keys:
        since = len(jira.requests)
        sent = len(jira.deliveries)
        jira.transition(key, "Awaiting Approval", as_user="alice")
        committed = move_time(stack, key, alice, since)
        revert = wait_until(lambda: move_time(stack, key, bot, since), timeout=20,
                            what=f"the revert of {key}")
        delivery = next(d for d in jira.deliveries[sent:] if d.payload["issue"]["key"] == key)
        delivered.append((delivery.time - committed) * 1000)
        reverted.append((revert - committed) * 1000)
        quiesce(stack)  # the revert's own webhook and job: measure each move on a quiet stack
    return delivered, reverted


def run(stack: Stack, sizes: Sizes = Sizes()) -> list[Row]:
    """Measure with one worker process, then with two."""
    stack.start_jira()
    connect_web(stack)
    keys = seed_changes(stack, 2 * sizes.moves, INCOMPLETE)
    stack.start_workers(1)
    quiesce(stack)
    delivery_1, one = measure(stack, keys[:sizes.moves])
    stack.start_workers(1)
    quiesce(stack)
    _, two = measure(stack, keys[sizes.moves:])
    how = (f"{sizes.moves} disallowed moves (Draft → Awaiting Approval without a deployment plan) "
           "per row, one at a time on distinct issues, by alice over the sandbox's REST; from the "
           "sandbox answering her POST transition to it answering changeguard's revert. Baseline: "
           "from the same commit to the sandbox recording changeguard's 2xx to the webhook "
           "delivery (gunicorn, signed). Two-worker rows use the one-worker row as baseline.")
    rows = []
    for label, values, base, base_label in (
            ("1 worker", one, delivery_1, "webhook delivery round trip"),
            ("2 workers", two, one, "1 worker")):
        for name, fraction, target in (("p50", 0.5, TARGET_P50_MS), ("p99", 0.99, TARGET_P99_MS)):
            ours, baseline = percentile(values, fraction), percentile(base, fraction)
            rows.append(Row(
                f"Enforcement latency {name}, {label} (ms)",
                f"{baseline:.0f} ({base_label})", f"{ours:.0f}", ours / baseline,
                f"< {target} ms (ratio: ours ÷ baseline)", ours < target,
                how if not rows else "", MISSED))
    return rows
