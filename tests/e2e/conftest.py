"""Fixtures wiring the real parts together for end-to-end tests."""

from __future__ import annotations

import pytest
from rq import Queue

from sandbox.jira_server import SandboxJira
from worker.runtime import connect_redis

from .harness import SECRET, WebServer, WorkerProcess, settings_for


@pytest.fixture
def jira():
    """A sandbox Jira Cloud that signs its webhooks; fails the test on any OpenAPI violation."""
    sandbox = SandboxJira(webhook_secret=SECRET)
    sandbox.start()
    yield sandbox
    sandbox.stop()
    assert sandbox.spec_violations == []


@pytest.fixture
def settings(jira, redis_url, namespace):
    return settings_for(jira, redis_url, namespace)


@pytest.fixture
def web(jira, settings):
    """The webhook endpoint over HTTP, registered as the sandbox's webhook URL."""
    server = WebServer(settings)
    jira.webhook_url = f"{server.url}/webhooks/jira"
    yield server
    server.stop()


@pytest.fixture
def worker(settings, tmp_path):
    process = WorkerProcess(settings, tmp_path / "worker.log")
    yield process
    process.stop()


@pytest.fixture
def queue(settings):
    return Queue(settings.queue_name, connection=connect_redis(settings.redis_url))
