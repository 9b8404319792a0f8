"""Fixtures for the sandbox GitLab (imported by tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.gitlab_server import GitLabProject, SandboxGitLab

__all__ = ["gitlab_sandbox", "gitlab_project"]


@pytest.fixture
def gitlab_sandbox() -> Iterator[SandboxGitLab]:
    """A sandbox GitLab; fails the test if it got a request GitLab would refuse.

    A test that provokes a refusal on purpose takes it with ``take_rejections()``.
    """
    sandbox = SandboxGitLab().start()
    yield sandbox
    sandbox.stop()
    assert sandbox.take_rejections() == [], "changeguard sent GitLab a request it refuses"


@pytest.fixture
def gitlab_project(gitlab_sandbox: SandboxGitLab) -> GitLabProject:
    """The project "acme/shop" (id 7) on the sandbox GitLab."""
    return gitlab_sandbox.add_project("acme/shop", project_id=7)
