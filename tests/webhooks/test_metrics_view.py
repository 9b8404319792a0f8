"""GET /metrics: each webhook outcome counted once, across app instances, and Redis failures tolerated."""

from __future__ import annotations

import pytest
import redis
from rq import Queue

from webhooks.app import create_app

from tests.builders import (DELIVERY, TRANSITION, body_of, deliver, free_port, make_settings,
                            queued)


def samples(client):
    """Return the non-zero sample lines of GET /metrics."""
    response = client.get("/metrics")
    assert (response.status_code, response.content_type) == (
        200, "text/plain; version=0.0.4; charset=utf-8")
    return [line for line in response.get_data(as_text=True).splitlines()
            if line.startswith("changeguard_") and not line.endswith(" 0")]


@pytest.fixture
def app(redis_url, namespace):
    return create_app(make_settings(redis_url, namespace, max_webhook_bytes=100_000))


@pytest.mark.parametrize(
    ("send", "outcome"),
    [
        (lambda c: deliver(c, body_of(TRANSITION)), "changeguard_webhooks_enqueued_total 1"),
        (lambda c: deliver(c, body_of(TRANSITION), signature="sha256=00"),
         'changeguard_webhooks_refused_total{reason="signature"} 1'),
        (lambda c: deliver(c, b"{not json"),
         'changeguard_webhooks_refused_total{reason="malformed"} 1'),
        (lambda c: deliver(c, b"x" * 100_001),
         'changeguard_webhooks_refused_total{reason="too_large"} 1'),
        (lambda c: deliver(c, body_of("comment_created_change_request")),
         "changeguard_webhooks_ignored_total 1"),
    ],
    ids=["enqueued", "signature", "malformed", "too-large", "ignored"],
)
def test_each_outcome_is_counted_once(app, namespace, send, outcome):
    client = app.test_client()

    send(client)

    queued_line = f'changeguard_queue_jobs{{queue="{namespace}",state="queued"}} 1'
    assert samples(client) == ["changeguard_webhooks_received_total 1", outcome] + (
        [queued_line] if outcome == "changeguard_webhooks_enqueued_total 1" else [])


def test_counters_are_shared_by_every_web_process(redis_url, namespace):
    # Two apps stand for two gunicorn workers: one delivery each, the second a duplicate.
    first = create_app(make_settings(redis_url, namespace)).test_client()
    second = create_app(make_settings(redis_url, namespace)).test_client()

    deliver(first, body_of(TRANSITION))
    deliver(second, body_of(TRANSITION))

    assert samples(second) == [
        "changeguard_webhooks_received_total 2",
        "changeguard_webhooks_deduped_total 1",
        "changeguard_webhooks_enqueued_total 1",
        f'changeguard_queue_jobs{{queue="{namespace}",state="queued"}} 1',
    ]
    with redis.Redis.from_url(redis_url) as conn:
        assert len(queued(Queue(namespace, connection=conn))) == 1


def test_redis_down_answers_503_on_metrics_and_still_serves_webhooks(namespace):
    down = create_app(make_settings(f"redis://127.0.0.1:{free_port()}/0", namespace)).test_client()

    metrics = down.get("/metrics")
    ignored = deliver(down, body_of("comment_created_change_request"), delivery=DELIVERY)
    refused = deliver(down, body_of(TRANSITION), signature="sha256=00")

    assert (metrics.status_code, metrics.get_data(as_text=True)) == (503, "redis unreachable\n")
    assert (ignored.status_code, ignored.json["status"]) == (200, "ignored")
    assert refused.status_code == 401
