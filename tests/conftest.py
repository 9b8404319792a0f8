"""Shared fixtures: a real Redis, a key namespace per test, the sandboxes and a job Runtime."""

from __future__ import annotations

import dataclasses
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from sandbox.embedded_redis import EmbeddedRedis
from sandbox.jira_server import SandboxJira
from sandbox.slack_server import SandboxSlack
from worker.freeze_rules import freeze_rules
from worker.jira_client import JiraClient
from worker.policy_file import load_policy
from worker.runtime import Runtime, connect_redis
from worker.site_resolver import resolve_site
from worker.slack_client import SlackClient

from .builders import settings_for
from .github_fixtures import *  # noqa: F401,F403  (the sandbox GitHub's fixtures)
from .gitlab_fixtures import *  # noqa: F401,F403  (the sandbox GitLab's fixtures)


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
def jira_options() -> dict[str, Any]:
    """Return the SandboxJira options of the `jira` fixture; a conftest or test module overrides it.

    Only what a sandbox is built with goes here (webhook URL, secret, retry delays), never
    ``spec_check``: every test's traffic is checked against the spec.
    """
    return {}


@pytest.fixture
def jira(jira_options: dict[str, Any]) -> Iterator[SandboxJira]:
    """A sandbox Jira Cloud built with ``jira_options``; fails the test on any OpenAPI violation."""
    assert "spec_check" not in jira_options, "the `jira` fixture always checks the spec"
    sandbox = SandboxJira(**jira_options).start()
    yield sandbox
    sandbox.stop()
    assert sandbox.spec_violations == []


@pytest.fixture
def slack() -> Iterator[SandboxSlack]:
    """A fake Slack Web API with #deployments."""
    with SandboxSlack() as sandbox:
        sandbox.start()
        yield sandbox


@pytest.fixture
def make_runtime(jira: SandboxJira, slack: SandboxSlack, redis_url: str,
                 namespace: str) -> Callable[..., Runtime]:
    """Return a function building a Runtime on the sandbox Jira, the fake Slack and the test Redis.

    Each call builds new clients, as a freshly started worker does. ``slack_sleep`` stands in for
    time.sleep in the Slack client; ``slack_users`` maps Slack user ids to sandbox people by
    short name, as the policy's [slack.users] table does.
    """
    def make(*, slack_sleep: Callable[[float], None] = time.sleep,
             slack_users: dict[str, str] | None = None,
             policy_path: Path | None = None) -> Runtime:
        policy = load_policy(policy_path)
        if slack_users:
            policy = dataclasses.replace(policy, slack_users={
                slack_id: jira.users[name].account_id for slack_id, name in slack_users.items()})
        client = JiraClient(jira.base_url, jira.bot.email, jira.bot.api_token, backoff_base=0.01)
        return Runtime(settings=settings_for(jira, redis_url, namespace, slack=slack),
                       policy=policy, site=resolve_site(client, policy), jira=client,
                       redis=connect_redis(redis_url),
                       slack=SlackClient(slack.token, base_url=slack.api_url, backoff_base=0.01,
                                         sleep=slack_sleep),
                       freeze_rules=freeze_rules(policy))

    return make


@pytest.fixture
def runtime_options() -> dict[str, Any]:
    """Return the make_runtime options of the `runtime` fixture; a test module overrides it."""
    return {}


@pytest.fixture
def runtime(make_runtime: Callable[..., Runtime], runtime_options: dict[str, Any]) -> Runtime:
    """A Runtime as the worker builds it, on the sandbox Jira, the fake Slack and the test Redis."""
    return make_runtime(**runtime_options)
