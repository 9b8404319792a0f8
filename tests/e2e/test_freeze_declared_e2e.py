"""A freeze declared in Jira, through the whole stack: webhook → Flask → Redis → RQ worker → Jira
and Slack. It withdraws the approvals it catches once, however often Jira delivers it."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from rules.freeze_declaration import NOT_HEAD

from ..builders import AGENDA_NORMAL, make_change, settings_for
from .harness import recorded_approvals, settle

UTC = timezone.utc
START, END = datetime(2030, 3, 1, 18, tzinfo=UTC), datetime(2030, 3, 4, 8, tzinfo=UTC)
SATURDAY = {"Planned Start": "2030-03-02T10:00:00.000+0000",
            "Planned End": "2030-03-02T11:00:00.000+0000"}
MONDAY = {"Planned Start": "2030-03-04T09:00:00.000+0000",
          "Planned End": "2030-03-04T10:00:00.000+0000"}


@pytest.fixture
def settings(jira, slack, redis_url, namespace):
    return settings_for(jira, redis_url, namespace, slack=slack)


def approved_by_the_cab(jira, queue, summary, window):
    key = make_change(jira, summary, {**AGENDA_NORMAL, **window}, "Awaiting Approval")
    settle(jira, queue)
    jira.transition(key, "Approved", "carol")
    settle(jira, queue)
    assert jira.status_of(key) == "Approved"
    return key


def bot_comments(jira, key):
    return [c["text"] for c in jira.comments(key) if c["author_account_id"] == jira.bot.account_id]


def freeze_deliveries(jira, key):
    return [d for d in jira.deliveries if d.payload.get("issue", {}).get("key") == key]


def test_a_freeze_withdraws_what_it_catches_once_rechecks_when_widened_and_names_them_when_cancelled(
        jira, slack, web, worker, queue):
    saturday = approved_by_the_cab(jira, queue, "Resize the ledger DB", SATURDAY)
    monday = approved_by_the_cab(jira, queue, "Rotate keys", MONDAY)
    freeze = jira.create_freeze("dana", "Quarter close", START, END, kind="Hard",
                                reason="Auditors are on site.")
    settle(jira, queue)
    created = freeze_deliveries(jira, freeze)[0]
    for _ in range(3):  # Jira's retries of the same delivery
        assert jira.redeliver(created.identifier) == 200
    jira.redeliver(created.identifier, new_identifier=True)  # the same event, another delivery
    settle(jira, queue)

    assert (jira.status_of(saturday), jira.status_of(monday)) == ("Awaiting Approval", "Approved")
    [comment] = bot_comments(jira, saturday)
    assert comment.startswith("Approval withdrawn: a change freeze now covers this change's "
                              "window")
    assert f"overlaps the hard freeze {freeze} \"Quarter close\"" in comment
    assert bot_comments(jira, monday) == []
    assert recorded_approvals(jira, saturday) == [("carol", "cab")]  # kept, not cleared
    [declared] = slack.messages
    assert declared.text.split("\n")[1:] == [
        "Approval withdrawn from 1 approved change in it, moved back to Awaiting Approval; each "
        "has a comment saying how to proceed:",
        f"• <{jira.base_url}/browse/{saturday}|{saturday}> “Resize the ledger DB”, planned Sat "
        "2 Mar 2030 10:00 to Sat 2 Mar 2030 11:00"]

    # Widened to Tuesday: Monday's change is caught now, Saturday's is not touched again.
    jira.edit(freeze, "dana", {"Planned End": datetime(2030, 3, 5, 8, tzinfo=UTC)})
    settle(jira, queue)
    assert jira.status_of(monday) == "Awaiting Approval"
    assert (len(bot_comments(jira, saturday)), len(bot_comments(jira, monday))) == (1, 1)
    assert len(slack.messages) == 2
    assert " freeze widened, " in slack.messages[1].text
    assert slack.messages[1].text.endswith(f"|{monday}> “Rotate keys”, planned Mon 4 Mar 2030 "
                                           "09:00 to Mon 4 Mar 2030 10:00")

    # Cancelled: nothing comes back by itself; Slack hears which changes it had held, once.
    jira.transition(freeze, "Cancelled", "dana")
    settle(jira, queue)
    cancelled = freeze_deliveries(jira, freeze)[-1]
    assert jira.redeliver(cancelled.identifier, new_identifier=True) == 202
    settle(jira, queue)
    assert (jira.status_of(saturday), jira.status_of(monday)) == (
        "Awaiting Approval", "Awaiting Approval")
    assert len(slack.messages) == 3
    base = f"{jira.base_url}/browse"
    assert slack.messages[2].text.split("\n")[1:] == [
        f"• <{base}/{saturday}|{saturday}>", f"• <{base}/{monday}|{monday}>"]
    assert " is cancelled. It had held these changes" in slack.messages[2].text
    assert [e["decision"] for e in jira.property(freeze, "changeguard")["audit"]] == [
        "declared", "widened", "cancelled"]
    assert queue.failed_job_registry.count == 0


def test_a_freeze_declared_by_someone_else_is_not_enforced(jira, slack, web, worker, queue):
    saturday = approved_by_the_cab(jira, queue, "Resize the ledger DB", SATURDAY)
    freeze = jira.create_freeze("alice", "Quarter close", START, END, kind="Hard")
    settle(jira, queue)
    jira.edit(freeze, "alice", {"Planned End": datetime(2030, 3, 5, 8, tzinfo=UTC)})
    settle(jira, queue)
    assert jira.status_of(saturday) == "Approved"
    assert bot_comments(jira, freeze) == [NOT_HEAD.format(
        key=freeze, group="head-of-engineering", issue_type="Change Freeze")]
    assert slack.messages == []


def test_a_deleted_freeze_names_the_changes_it_held(jira, slack, web, worker, queue):
    saturday = approved_by_the_cab(jira, queue, "Resize the ledger DB", SATURDAY)
    freeze = jira.create_freeze("dana", "Quarter close", START, END, kind="Soft")
    settle(jira, queue)
    jira.delete(freeze, "dana")
    settle(jira, queue)
    assert jira.status_of(saturday) == "Awaiting Approval"
    assert [m.text.split("\n")[-1] for m in slack.messages] == [
        f"• <{jira.base_url}/browse/{saturday}|{saturday}> “Resize the ledger DB”, planned Sat 2 "
        "Mar 2030 10:00 to Sat 2 Mar 2030 11:00",
        f"• <{jira.base_url}/browse/{saturday}|{saturday}>"]
    assert " soft freeze (Fri 1 Mar 2030 18:00 to Mon 4 Mar 2030 08:00, Europe/London) is " \
           "deleted." in slack.messages[1].text
