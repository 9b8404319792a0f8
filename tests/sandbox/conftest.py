"""Fixtures for the sandbox Jira tests: fast webhook retries, a receiver and REST calls."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from werkzeug.wrappers import Request, Response

from sandbox.jira_server import SandboxJira
from sandbox.serving import ServingThread

FAST_RETRIES = (0.05, 0.1, 0.1)


@dataclass
class Received:
    """One webhook POST the receiver got."""

    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.raw)


@dataclass
class Receiver:
    """A tiny HTTP server that records webhook POSTs and answers scripted statuses."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        self.received.append(Received(dict(request.headers), request.get_data()))
        status = self.statuses.pop(0) if self.statuses else 200
        return Response("", status=status)(environ, start_response)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """Run a webhook receiver on a free port."""
    target = Receiver()
    serving = ServingThread(target, name="webhook-receiver")
    target.url = f"{serving.url}/jira-webhook"
    yield target
    serving.stop()


@pytest.fixture
def jira_options() -> dict[str, Any]:
    """Retry webhooks quickly: the webhook tests wait through every retry of a failed delivery."""
    return {"retry_delays": FAST_RETRIES}


@pytest.fixture
def http(jira: SandboxJira) -> Iterator[Any]:
    """Return a function making REST calls as a named person (or anonymously with None)."""
    session = requests.Session()

    def call(method: str, path: str, as_user: str | None = "changeguard", **kwargs: Any):
        auth = None
        if as_user is not None:
            person = jira.users[as_user]
            auth = (person.email, person.api_token)
        return session.request(method, jira.base_url + path, auth=auth, timeout=10, **kwargs)

    yield call
    session.close()
