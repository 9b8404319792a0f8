"""Fixtures wiring the real parts together for end-to-end tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from rq import Queue

from worker.runtime import connect_redis

from ..builders import SECRET, settings_for
from .harness import WebServer, WorkerProcess

E2E_DIR = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects: a new file here is marked without a line
def pytest_collection_modifyitems(items):
    """Mark every test under tests/e2e/ with ``e2e``, so `-m "not e2e"` leaves them all out."""
    # A conftest's collection hook sees the whole session's items, not only this directory's.
    for item in items:
        if E2E_DIR in item.path.parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture
def jira_options():
    """Sign the webhooks with the secret the web endpoint's settings carry."""
    return {"webhook_secret": SECRET}


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
