"""Fixtures for job tests: a Runtime against the sandbox Jira, the fake Slack and a real Redis."""

from __future__ import annotations

import pytest

from worker.jira_client import JiraClient
from worker.policy_file import load_policy
from worker.runtime import Runtime, connect_redis
from worker.site_resolver import resolve_site
from worker.slack_client import SlackClient

from ..e2e.harness import settings_for


@pytest.fixture
def runtime(jira, slack, redis_url, namespace):
    settings = settings_for(jira, redis_url, namespace)
    policy = load_policy()
    client = JiraClient(jira.base_url, jira.bot.email, jira.bot.api_token, backoff_base=0.01)
    return Runtime(settings=settings, policy=policy, site=resolve_site(client, policy),
                   jira=client, redis=connect_redis(redis_url),
                   slack=SlackClient(slack.token, base_url=slack.api_url))
