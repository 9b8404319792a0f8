"""Shared fixtures: a real Redis for the session, a private key namespace per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis

from sandbox.jira_server import SandboxJira
from sandbox.slack_server import SandboxSlack
from sandbox.embedded_redis import EmbeddedRedis


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """Yield $REDIS_URL, or the URL of a real redis-server started for this test session."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    with EmbeddedRedis() as embedded:
        yield embedded.url


@pytest.fixture
def conn(redis_url: str) -> Iterator[redis.Redis]:
    """A Redis client on the test Redis."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:
    """Yield a namespace (key prefix and RQ queue name) unique to this test, then delete its keys."""
    name = "cgtest-" + uuid.uuid4().hex[:10]
    yield name
    client = redis.Redis.from_url(redis_url)
    try:
        _delete_namespace(client, name)
    except redis.exceptions.ConnectionError:
        pass  # a test that stopped Redis leaves nothing to clean
    finally:
        client.close()


def _delete_namespace(client: redis.Redis, name: str) -> None:
    # RQ job keys are not prefixed by queue name: find them by their origin queue.
    doomed = list(client.scan_iter(match=f"{name}*", count=500))
    doomed += client.scan_iter(match=f"rq:*{name}*", count=500)
    for key in client.scan_iter(match="rq:job:*", count=500):
        if client.type(key) == b"hash" and client.hget(key, "origin") == name.encode():
            job_id = key.decode().removeprefix("rq:job:")
            doomed += client.scan_iter(match=f"rq:*:{job_id}", count=500)
            doomed += client.scan_iter(match=f"rq:*:{job_id}:*", count=500)
    if doomed:
        client.delete(*doomed)
    client.srem("rq:queues", f"rq:queue:{name}")


@pytest.fixture
def jira() -> Iterator[SandboxJira]:
    """A sandbox Jira Cloud (no webhook URL); fails the test on any OpenAPI violation."""
    sandbox = SandboxJira().start()
    yield sandbox
    sandbox.stop()
    assert sandbox.spec_violations == []


@pytest.fixture
def slack() -> Iterator[SandboxSlack]:
    """A fake Slack Web API with #deployments."""
    with SandboxSlack() as sandbox:
        sandbox.start()
        yield sandbox
