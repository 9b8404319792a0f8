"""Fixtures for the sandbox GitHub (imported by tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.github_server import SandboxGitHub
from worker.github_client import GitHubClient

__all__ = ["github", "github_client"]


@pytest.fixture
def github() -> Iterator[SandboxGitHub]:
    """A sandbox GitHub with the App installed on acme/shop; fails the test on any request the
    real GitHub would refuse (a test expecting refusals takes them with take_rejections())."""
    sandbox = SandboxGitHub().start()
    yield sandbox
    sandbox.stop()
    assert sandbox.rejected == []


@pytest.fixture
def github_client(github: SandboxGitHub) -> GitHubClient:
    """The worker's GitHub client, as the App, on the sandbox GitHub (retries wait 10 ms)."""
    return GitHubClient(github.app_id, github.private_key_pem, base_url=github.api_url,
                        backoff_base=0.01)


def github_settings(github: SandboxGitHub) -> dict[str, Any]:
    """Return the Settings fields of a changeguard set up as the sandbox's GitHub App."""
    return {"github_app_id": github.app_id, "github_private_key": github.private_key_pem,
            "github_webhook_secret": github.webhook_secret, "github_api_url": github.api_url}
