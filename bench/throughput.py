"""Sustained enforcement: a burst of disallowed moves over many change requests, per worker."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from tests.builders import wait_until

from .report import Row
from .scenario import INCOMPLETE, connect_web, quiesce, seed_changes
from .stack import Stack

TARGET_SCALING = 1.5
MISSED = ("this machine has 2 cores for everything: the sandbox Jira (one Python process, one "
          "lock over its state, one webhook delivery thread), gunicorn, Redis, the bench itself "
          "and the workers, each of which forks a work horse per job. A second worker only "
          "helps while a core is idle; with the sandbox and the forks saturating both, it "
          "cannot. Production Jira is not on the worker's cores; measure scaling on a machine "
          "with more cores than processes, and use RQ's SimpleWorker to save the fork per job.")


@dataclass(frozen=True)
class Sizes:
    changes: int = 100  # M change requests
    rounds: int = 2     # each round moves every one of them once: N = rounds × M


def burst(stack: Stack, keys: list[str]) -> tuple[float, float]:
    """Move every issue while deliveries are held, release them at once; time delivery and reverts.

    Returns (seconds until the sandbox had delivered every move, seconds until all were reverted).
    """
    jira = stack.jira
    jira.hold_deliveries()
    for key in keys:
        jira.transition(key, "Awaiting Approval", as_user="alice")
    sent = len(jira.deliveries)
    started = time.monotonic()
    released = {identifier for identifier, _ in jira.release_deliveries(None, duplicate=False)}
    wait_until(lambda: all(jira.status_of(key) == "Draft" for key in keys),
               timeout=120, what="every move to be reverted")
    reverted = time.monotonic() - started
    times = [d.time for d in jira.deliveries[sent:] if d.identifier in released]
    quiesce(stack)
    return max(times) - started, reverted


def cpu_seconds(pid: int) -> float:
    """Return the CPU time of a process and its reaped children (RQ's work horses)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return sum(int(tick) for tick in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def sustained(stack: Stack, keys: list[str], rounds: int) -> tuple[float, float, float]:
    """Return (deliveries/s, reverts/s, worker CPU ms per event) over ``rounds`` bursts."""
    delivered = reverted = 0.0
    pids = [worker.process.pid for worker in stack.workers]
    cpu_before = sum(cpu_seconds(pid) for pid in pids)
    for _ in range(rounds):
        d, r = burst(stack, keys)
        delivered += d
        reverted += r
    events = rounds * len(keys)
    cpu = sum(cpu_seconds(pid) for pid in pids) - cpu_before
    return events / delivered, events / reverted, cpu * 1000 / events


def run(stack: Stack, sizes: Sizes = Sizes()) -> list[Row]:
    """Measure with one worker process, then two."""
    stack.start_jira()
    connect_web(stack)
    keys = seed_changes(stack, sizes.changes, INCOMPLETE)
    stack.start_workers(1)
    quiesce(stack)
    delivery_rate, one, cpu_one = sustained(stack, keys, sizes.rounds)
    stack.start_workers(1)
    quiesce(stack)
    _, two, cpu_two = sustained(stack, keys, sizes.rounds)
    events = sizes.rounds * sizes.changes
    how = (f"N = {events} disallowed moves over M = {sizes.changes} change requests "
           f"({sizes.rounds} bursts, each moving every one once while the sandbox holds its "
           "webhooks, then releasing them together); time from release until every issue is "
           "back in Draft. Baseline: the rate at which the sandbox's single delivery thread "
           "had the same deliveries acknowledged by the endpoint (the input ceiling). Each "
           "revert sets off one more webhook and job (changeguard's own move, screened out). "
           f"Worker CPU (worker processes and their forked work horses) per event: "
           f"{cpu_one:.0f} ms with one worker, {cpu_two:.0f} ms with two; 1000 ms ÷ that "
           "is the most one core can enforce per second.")
    return [
        Row("Sustained enforcement, 1 worker (events/s per worker)",
            f"{delivery_rate:.0f} (webhook delivery rate)", f"{one:.1f}", one / delivery_rate,
            "— (none set; ratio: ours ÷ baseline)", None, how),
        Row("Sustained enforcement, 2 workers (events/s, both)", f"{one:.1f} (1 worker)",
            f"{two:.1f} ({two / 2:.1f} per worker)", two / one,
            f"≥ {TARGET_SCALING}× one worker", two / one >= TARGET_SCALING, if_missed=MISSED),
    ]
