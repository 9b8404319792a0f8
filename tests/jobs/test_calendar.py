"""The calendar searches the published changes by status id, whatever the statuses are called."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from jobs.calendar import fetch_calendar
from worker.jira_client import JiraClient
from worker.policy_file import load_policy
from worker.site_resolver import resolve_site

from ..webhooks.test_calendar_feed import create, window

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=timezone.utc)
SEARCH = "/rest/api/3/search/jql"


@pytest.mark.parametrize("renamed", [
    {},
    {"Approved": "Ready to go"},
    {"Approved": "Genehmigt", "Implementing": "In Umsetzung", "Implemented": "Umgesetzt"},
], ids=["as-the-policy-names-them", "renamed-by-an-admin", "localised"])
def test_the_calendar_finds_the_published_changes_however_their_statuses_are_named(jira,
                                                                                   renamed):
    policy = load_policy()
    client = JiraClient(jira.base_url, jira.bot.email, jira.bot.api_token)
    site = resolve_site(client, policy)  # once, at start-up, by the policy's names
    approved = create(jira, "Rotate edge TLS certificates", "Approved", span=window(0))
    implementing = create(jira, "Raise the pool size", "Implementing", span=window(1))
    implemented = create(jira, "Patch the kernel", "Implemented", span=window(2))
    create(jira, "Still a draft", "Draft", span=window(3))
    for name, new_name in renamed.items():
        jira.rename_status(name, new_name)
    jira.reset_recordings()

    calendar = fetch_calendar(client, policy, site, jira.base_url, NOW)

    assert [event.url.rsplit("/", 1)[-1] for event in calendar.events] == [
        approved, implementing, implemented]
    ids = [jira.site.issue(key).status for key in (approved, implementing, implemented)]
    assert [r.json["jql"] for r in jira.requests if r.path == SEARCH] == [
        f'(issuetype = "Change Request") AND status in ({", ".join(ids)})']
