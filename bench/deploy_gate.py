"""Deployment gate release latency: from the approval in Jira to GitHub's callback received."""

from __future__ import annotations

import collections
import dataclasses
import re
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from rq.job import Job

from rules.deployment import PROPERTY_KEY as DEPLOYMENTS_KEY
from sandbox.github_server import GitHubReview, SandboxGitHub, WorkflowRun
from tests.builders import wait_until
from tests.github_fixtures import github_settings

from .report import Row, median, percentile
from .scenario import COMPLETE, move_time, quiesce, seed_changes
from .stack import Stack

TARGET_P99_MS = 1000
RECORD_KEY = "changeguard"  # the issue property enforcement records the approval in
MISSED = ("after the approval is recorded the release is a second job, run in a work horse "
          "forked for it once the first one exits; a fresh horse imports jobs.registry (to "
          "enqueue the follow-up) and jobs.deploy_gate again, and builds githubkit's lazily "
          "loaded REST modules and models, parses the App's PEM key for the JWT, mints an "
          "installation token (the parent's token cache never sees what its horses mint) and "
          "builds a new httpx client with a new SSL context for each GitHub call. Importing "
          "jobs.registry in the worker before it forks, one httpx transport per worker process "
          "for the GitHub client and an installation token cached in Redis (or RQ's "
          "SimpleWorker) take those off the path.")


@dataclass(frozen=True)
class Sizes:
    changes: int = 50  # about 45 s on 2 CPUs


@dataclass(frozen=True)
class Sample:
    """One approval, as the sandboxes and RQ saw it (monotonic seconds of this process)."""

    approved: float  # the sandbox Jira answered carol's POST transition to Approved
    recorded: float  # the sandbox Jira answered changeguard's PUT of the approval record
    released: float  # the sandbox GitHub received the `approved` review
    stages: dict[str, float]  # milliseconds between the steps of the path it took
    tokens_minted: int  # installation tokens the release minted
    calls: tuple[str, ...]  # changeguard's Jira and GitHub calls on the path, in order


def open_window() -> dict[str, str]:
    """Return a Planned Start–End around now (an hour ago to two hours on)."""
    now = datetime.now(timezone.utc)
    fmt = "%Y-%m-%dT%H:%M:%S.000+0000"
    return {"Planned Start": (now - timedelta(hours=1)).strftime(fmt),
            "Planned End": (now + timedelta(hours=2)).strftime(fmt)}


def waiting_deployments(stack: Stack, github: SandboxGitHub, web_url: str,
                        count: int) -> list[tuple[str, WorkflowRun]]:
    """Put ``count`` complete Normal changes in Awaiting Approval, each with a production
    deployment of its own waiting at the gate (its status report posted)."""
    jira = stack.jira
    keys = seed_changes(stack, count, {**COMPLETE, **open_window()}, prefix="Gate")
    for key in keys:
        jira.transition(key, "Awaiting Approval", as_user="alice")
    quiesce(stack)
    runs = []
    for key in keys:
        run = github.add_run(head_commit_message=f"Merge pull request #7\n\n{key}: deploy")
        answer = github.deliver_protection_rule(f"{web_url}/webhooks/github", run, "production")
        if answer.status_code != 202:
            raise RuntimeError(f"the GitHub endpoint answered {answer.status_code}: {answer.text}")
        runs.append(run)
    for run in runs:
        github.wait_for_review(run.id, state=None, timeout=30)
    quiesce(stack)
    for key in keys:
        if jira.status_of(key) != "Awaiting Approval":
            raise RuntimeError(f"{key} is {jira.status_of(key)}, not Awaiting Approval")
    return list(zip(keys, runs))


class TimedGitHub(SandboxGitHub):
    """The sandbox GitHub, noting when each request arrived (its recording has no times)."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list[tuple[float, str, str]] = []  # (monotonic, method, path)

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        self.arrivals.append((time.monotonic(), environ["REQUEST_METHOD"], environ["PATH_INFO"]))
        return super().__call__(environ, start_response)


def bot_answered(stack: Stack, method: str, path: str, since: int, after: float = 0.0) -> float:
    """Return when the sandbox Jira first answered changeguard's ``method path`` (2xx) from
    request ``since`` and after ``after`` (monotonic); NaN if it did not."""
    bot = stack.jira.bot.account_id
    return next((r.time for r in stack.jira.requests[since:]
                 if r.method == method and r.path == path and 200 <= r.status < 300
                 and r.account_id == bot and r.time > after), float("nan"))


def _shape(path: str, key: str) -> str:
    """Return a request path with the issue key and the numbers in it generalised."""
    return re.sub(r"/\d{2,}", "/{id}", path.replace(key, "{key}"))


def jobs_of(stack: Stack, key: str, func: str) -> list[Job]:
    """Return the finished jobs of ``func`` (its name's last part) on ``key``, oldest first."""
    registry = stack.queue.finished_job_registry
    jobs = Job.fetch_many(registry.get_job_ids(), connection=registry.connection)
    found = [j for j in jobs if j is not None and j.func_name.endswith("." + func)
             and j.kwargs.get("issue_key") == key]
    return sorted(found, key=lambda j: j.enqueued_at)


def measure(stack: Stack, github: TimedGitHub,
            waiting: list[tuple[str, WorkflowRun]]) -> list[Sample]:
    """Approve each change in Jira as carol, one at a time; time the release of its deployment."""
    jira = stack.jira
    carol = jira.users["carol"].account_id
    wall = time.time() - time.monotonic()  # the sandboxes run in this process: one clock

    def at(moment: datetime | None) -> float:  # RQ's wall-clock stamps, on the monotonic clock
        return moment.timestamp() - wall if moment is not None else float("nan")

    samples = []
    for key, run in waiting:
        since, minted = len(jira.requests), github.tokens_minted
        issue = f"/rest/api/3/issue/{key}"
        jira.transition(key, "Approved", as_user="carol")
        approved = move_time(stack, key, carol, since)
        review: GitHubReview = github.wait_for_review(run.id, state="approved", timeout=20)
        record = f"{issue}/properties/{RECORD_KEY}"
        wait_until(lambda: not math.isnan(bot_answered(stack, "PUT", record, since)),
                   timeout=20, what=f"the approval of {key} recorded")
        recorded = bot_answered(stack, "PUT", record, since)
        minted = github.tokens_minted - minted  # before the Implementing move's jobs run
        bot = jira.bot.account_id
        calls = tuple(sorted(
            [(r.time, f"Jira {r.method} {_shape(r.path, key)}") for r in jira.requests[since:]
             if r.account_id == bot and r.time <= review.received_monotonic]
            + [(t, f"GitHub {method} {_shape(path, key)}") for t, method, path in github.arrivals
               if approved < t <= review.received_monotonic]))
        quiesce(stack)  # the move to Implementing and its jobs: measure each on a quiet stack
        enforce = next(j for j in jobs_of(stack, key, "enforce_transition")
                       if j.kwargs.get("actor_account_id") == carol)
        [release] = jobs_of(stack, key, "release_waiting")
        started = at(release.started_at)
        token = next((t for t, method, path in github.arrivals
                      if method == "POST" and path.endswith("/access_tokens") and t > started),
                     float("nan"))
        steps = [("approved", approved), ("enforcement enqueued", at(enforce.enqueued_at)),
                 ("enforcement started", at(enforce.started_at)), ("recorded", recorded),
                 ("release enqueued", at(release.enqueued_at)),
                 ("enforcement ended", at(enforce.ended_at)), ("release started", started),
                 ("issue read", bot_answered(stack, "GET", issue, since, started)),
                 ("deployment record written", bot_answered(
                     stack, "PUT", f"{issue}/properties/{DEPLOYMENTS_KEY}", since, started)),
                 ("token asked", token), ("callback received", review.received_monotonic)]
        steps = [(name, moment) for name, moment in steps if not math.isnan(moment)]
        stages = {f"{a} → {b}": (tb - ta) * 1000 for (a, ta), (b, tb) in zip(steps, steps[1:])}
        samples.append(Sample(approved, recorded, review.received_monotonic, stages, minted,
                              tuple(call for _, call in calls)))
    return samples


def run(stack: Stack, sizes: Sizes = Sizes()) -> list[Row]:
    """Measure the release of deployments waiting for approval, one worker process."""
    stack.start_jira()
    github = TimedGitHub().start()
    try:
        stack.settings = dataclasses.replace(stack.settings, **github_settings(github))
        web = stack.start_web("wsgi:app")
        stack.jira.webhook_url = f"{web.url}/webhooks/jira"
        stack.start_workers(1)
        quiesce(stack)
        waiting = waiting_deployments(stack, github, web.url, sizes.changes)
        samples = measure(stack, github, waiting)
        if github.rejected:
            raise RuntimeError(f"the sandbox GitHub refused requests: {github.rejected}")
    finally:
        github.stop()
    gate = [(s.released - s.approved) * 1000 for s in samples]
    base = [(s.recorded - s.approved) * 1000 for s in samples]
    names = list(dict.fromkeys(name for s in samples for name in s.stages))
    stages = ", ".join(f"{name} {median([s.stages[name] for s in samples if name in s.stages]):.0f}"
                       for name in names)
    tokens = sorted({s.tokens_minted for s in samples})
    paths = collections.Counter(s.calls for s in samples).most_common(1)[0][0]
    how = (f"{sizes.changes} complete Normal changes in Awaiting Approval, inside their window, "
           "each with a GitHub run whose production deployment waits at the gate (status "
           "report posted); carol moves each to Approved in the sandbox Jira, one at a time on "
           "a quiet stack, 1 worker process; from the sandbox answering her POST transition to "
           "the sandbox GitHub receiving the `approved` review. Baseline, same approvals: to "
           "the sandbox answering changeguard's PUT of the `changeguard` issue property with "
           "the approval (what an approval cost before the gate). Medians of the steps (ms; "
           f"RQ's stamps): {stages}. Installation tokens minted per release: "
           f"{' or '.join(map(str, tokens))}. Calls on the path (most samples): "
           f"{'; '.join(paths)}.")
    rows = []
    for name, fraction in (("p50", 0.5), ("p99", 0.99)):
        ours, baseline = percentile(gate, fraction), percentile(base, fraction)
        target = (f"< {TARGET_P99_MS} ms (ratio: ours ÷ baseline)" if name == "p99"
                  else "— (none set; ratio: ours ÷ baseline)")
        rows.append(Row(
            f"Deploy gate release {name}, Jira approval → GitHub callback (ms)",
            f"{baseline:.0f} (approval recorded)", f"{ours:.0f}", ours / baseline, target,
            ours < TARGET_P99_MS if name == "p99" else None, how if not rows else "", MISSED))
    return rows
