"""Redis-kept counters: counting, rendering in Prometheus text format, and the Jira and RQ hooks."""

from __future__ import annotations

import logging

import pytest
import redis
from rq import Queue, Retry

from worker.jira_client import JiraClient, JiraRateLimited
from worker.main import ChangeguardWorker
from worker.metrics import count, jira_call_counter, job_exception_handler, render
from worker.settings import Settings

from ..builders import free_port


def make_settings(redis_url, namespace):
    return Settings(jira_base_url="https://example.atlassian.net", jira_email="cg@example.com",
                    jira_api_token="token", jira_webhook_secret=None, redis_url=redis_url,
                    namespace=namespace)


def explode():
    """A job that always fails."""
    raise RuntimeError("boom")


def succeed():
    """A job that does nothing."""
    return "ok"


@pytest.fixture
def settings(redis_url, namespace):
    return make_settings(redis_url, namespace)


def samples(text, prefix="changeguard_"):
    """Return the non-zero sample lines of an exposition, without HELP and TYPE."""
    return [line for line in text.splitlines()
            if line.startswith(prefix) and not line.endswith(" 0")]


def test_count_keeps_one_hash_per_family_with_labels_as_fields(conn, settings, namespace):
    count(conn, settings, "webhooks_received")
    count(conn, settings, "webhooks_received")
    count(conn, settings, "webhooks_refused", reason="signature")
    count(conn, settings, "decisions", kind="move", verdict="revert", reason="gate_failed")

    assert conn.hgetall(f"{namespace}:metrics:webhooks_received") == {b"": b"2"}
    assert conn.hgetall(f"{namespace}:metrics:webhooks_refused") == {b'{reason="signature"}': b"1"}
    assert conn.hgetall(f"{namespace}:metrics:decisions") == {
        b'{kind="move",verdict="revert",reason="gate_failed"}': b"1"}


@pytest.mark.parametrize(
    ("family", "labels"),
    [("webhooks_received", {"reason": "x"}), ("webhooks_refused", {}),
     ("decisions", {"kind": "move"}), ("no_such_family", {})],
    ids=["unexpected-label", "missing-label", "missing-two-labels", "unknown-family"],
)
def test_count_refuses_labels_a_family_does_not_have(conn, settings, family, labels):
    with pytest.raises((ValueError, KeyError)):
        count(conn, settings, family, **labels)


def test_a_redis_failure_loses_the_count_and_nothing_else(settings, caplog):
    down = redis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
    caplog.set_level(logging.DEBUG, logger="worker.metrics")

    count(down, settings, "webhooks_enqueued")

    assert [(r.levelname, r.getMessage(), r.family) for r in caplog.records] == [
        ("DEBUG", "metric not counted", "webhooks_enqueued")]


def test_render_is_prometheus_text_with_every_family_and_live_queue_depth(conn, settings, namespace):
    count(conn, settings, "webhooks_received")
    count(conn, settings, "webhooks_refused", reason='a "quoted"\\ value\n')
    Queue(namespace, connection=conn).enqueue(succeed)

    text = render(conn, settings, [namespace, f"{namespace}-periodic"])

    assert text.endswith("\n")
    assert text.splitlines()[:6] == [
        "# HELP changeguard_webhooks_received_total Webhook deliveries received "
        "(Jira, GitHub, GitLab).",
        "# TYPE changeguard_webhooks_received_total counter",
        "changeguard_webhooks_received_total 1",
        "# HELP changeguard_webhooks_refused_total Deliveries refused, by reason "
        "(signature, malformed, too_large).",
        "# TYPE changeguard_webhooks_refused_total counter",
        'changeguard_webhooks_refused_total{reason="a \\"quoted\\"\\\\ value\\n"} 1',
    ]
    # Unlabelled counters are always present, at zero until counted.
    assert "changeguard_webhooks_deduped_total 0" in text
    assert "changeguard_jira_rate_limited_total 0" in text
    assert [line for line in text.splitlines() if line.startswith("changeguard_queue_jobs")] == [
        f'changeguard_queue_jobs{{queue="{namespace}",state="queued"}} 1',
        f'changeguard_queue_jobs{{queue="{namespace}",state="started"}} 0',
        f'changeguard_queue_jobs{{queue="{namespace}",state="failed"}} 0',
        f'changeguard_queue_jobs{{queue="{namespace}",state="scheduled"}} 0',
        f'changeguard_queue_jobs{{queue="{namespace}-periodic",state="queued"}} 0',
        f'changeguard_queue_jobs{{queue="{namespace}-periodic",state="started"}} 0',
        f'changeguard_queue_jobs{{queue="{namespace}-periodic",state="failed"}} 0',
        f'changeguard_queue_jobs{{queue="{namespace}-periodic",state="scheduled"}} 0',
    ]
    assert sum(line.startswith("# TYPE ") for line in text.splitlines()) == 14


def test_jira_calls_and_429s_are_counted_per_attempt(jira, conn, settings):
    jira.inject_fault("GET", "^/rest/api/3/myself$", 429, times=2, retry_after=0)
    client = JiraClient(jira.base_url, jira.bot.email, jira.bot.api_token, max_attempts=2,
                        sleep=lambda seconds: None, on_call=jira_call_counter(conn, settings))

    with pytest.raises(JiraRateLimited):
        client.get_myself()
    client.get_myself()

    assert samples(render(conn, settings, [])) == [
        'changeguard_jira_calls_total{method="GET",status="200"} 1',
        'changeguard_jira_calls_total{method="GET",status="429"} 2',
        "changeguard_jira_rate_limited_total 2",
    ]


def test_unreachable_jira_counts_as_a_call_without_status(conn, settings):
    client = JiraClient(f"http://127.0.0.1:{free_port()}", "cg@example.com", "token",
                        max_attempts=1, on_call=jira_call_counter(conn, settings))

    with pytest.raises(Exception):
        client.get_myself()

    assert samples(render(conn, settings, [])) == [
        'changeguard_jira_calls_total{method="GET",status="unreachable"} 1']


def test_jobs_count_as_completed_retried_and_failed(conn, settings, namespace):
    # The worker `changeguard worker` runs: it forks a work horse per job, as in production.
    queue = Queue(namespace, connection=conn)
    queue.enqueue(explode, retry=Retry(max=1))
    queue.enqueue(succeed)
    queue.enqueue(succeed)
    worker = ChangeguardWorker([queue], connection=conn, settings=settings,
                               exception_handlers=[job_exception_handler(settings)])

    worker.work(burst=True)

    assert samples(render(conn, settings, [namespace])) == [
        'changeguard_jobs_completed_total{func="tests.worker.test_metrics.succeed"} 2',
        'changeguard_jobs_failed_total{func="tests.worker.test_metrics.explode"} 1',
        'changeguard_jobs_retried_total{func="tests.worker.test_metrics.explode"} 1',
        f'changeguard_queue_jobs{{queue="{namespace}",state="failed"}} 1',
    ]


def test_health_gauges_are_replaced_whole_and_only_read_by_the_scrape(conn, settings):
    from datetime import datetime, timedelta, timezone

    from rules.change_health import WeekHealth
    from worker.metrics import health_samples, store_health

    monday = datetime(2026, 10, 4, 23, tzinfo=timezone.utc)
    first = health_samples(monday, {
        "all": WeekHealth(deployments=4, failures=1, lead_time_to_approval=timedelta(hours=2)),
        "emergency": WeekHealth()})
    assert first == {
        "health_week_start_timestamp_seconds": monday.timestamp(),
        'health_deployments{category="all"}': 4.0, 'health_failures{category="all"}': 1.0,
        'health_change_failure_rate{category="all"}': 0.25,
        'health_emergency_share{category="all"}': 0.0,
        'health_lead_time_to_approval_seconds{category="all"}': 7200.0,
        'health_freeze_exceptions{category="all"}': 0.0,
        'health_gate_deployments{category="all"}': 0.0,
        'health_deployments{category="emergency"}': 0.0,
        'health_failures{category="emergency"}': 0.0,
        'health_freeze_exceptions{category="emergency"}': 0.0,
        'health_gate_deployments{category="emergency"}': 0.0}
    store_health(conn, settings, first)
    store_health(conn, settings, {'health_deployments{category="all"}': 7.0})
    text = render(conn, settings, [])
    assert [line for line in text.splitlines() if "health" in line] == [
        "# HELP changeguard_health_deployments Changes that reached Implemented last week.",
        "# TYPE changeguard_health_deployments gauge",
        'changeguard_health_deployments{category="all"} 7.0']
    store_health(conn, settings, {})
    assert "health" not in render(conn, settings, [])
