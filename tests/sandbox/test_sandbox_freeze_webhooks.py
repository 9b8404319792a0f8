"""Declared freezes in the sandbox: their webhooks, and deleting an issue, as Jira Cloud does."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import requests

SECRET = "sandbox-secret"
START = datetime(2030, 3, 1, 18, tzinfo=timezone.utc)
END = datetime(2030, 3, 4, 8, tzinfo=timezone.utc)


@pytest.fixture
def wired(jira, receiver):
    jira.webhook_url = receiver.url
    jira.webhook_secret = SECRET
    return jira


def test_a_freeze_is_created_edited_and_deleted_with_a_webhook_each(wired, receiver):
    key = wired.create_freeze("dana", "Quarter close", START, END, kind="Hard")
    wired.edit(key, "dana", {"Planned End": datetime(2030, 3, 5, 8, tzinfo=timezone.utc)})
    wired.delete(key, "dana")
    wired.wait_for_deliveries()
    created, edited, deleted = (r.json for r in receiver.received)
    assert [b["webhookEvent"] for b in (created, edited, deleted)] == [
        "jira:issue_created", "jira:issue_updated", "jira:issue_deleted"]
    assert created["issue"]["fields"]["issuetype"]["name"] == "Change Freeze"
    assert [i["field"] for i in edited["changelog"]["items"]] == ["Planned End"]
    # The deletion carries the issue as it was, and no changelog.
    assert sorted(deleted) == ["issue", "timestamp", "user", "webhookEvent"]
    assert (deleted["issue"]["key"], deleted["issue"]["fields"]["issuetype"]["name"]) == (
        key, "Change Freeze")
    assert deleted["user"]["accountId"] == wired.users["dana"].account_id
    assert wired.spec_violations == []


def test_a_deleted_issue_is_gone_and_its_key_not_given_again(jira):
    first = jira.create_freeze("dana", "Quarter close", START, END, kind="Soft")
    jira.delete(first, "dana")
    dana = jira.users["dana"]
    gone = requests.get(f"{jira.base_url}/rest/api/3/issue/{first}",
                        auth=(dana.email, dana.api_token), timeout=5)
    again = requests.delete(f"{jira.base_url}/rest/api/3/issue/{first}",
                            auth=(dana.email, dana.api_token), timeout=5)
    assert (gone.status_code, again.status_code) == (404, 404)
    second = jira.create_freeze("dana", "Quarter close", START, END, kind="Soft")
    assert int(second.split("-")[1]) == int(first.split("-")[1]) + 1
