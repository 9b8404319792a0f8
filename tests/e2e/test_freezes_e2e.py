"""Freezes through the whole stack: Jira's webhooks, the endpoint, RQ and the worker process."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import pytest

from ..builders import NORMAL, example_freezes_policy_path, settings_for
from .harness import audit_trail, recorded_approvals, settle

UTC = timezone.utc
EMERGENCY = {**NORMAL, "Change Category": "Emergency", "Change Type": "Database",
             "Incident Commander": "erin"}


@pytest.fixture
def settings(jira, redis_url, namespace, tmp_path):
    """The worker runs the default policy with its example recurring freezes turned on."""
    return dataclasses.replace(settings_for(jira, redis_url, namespace),
                               policy_path=example_freezes_policy_path(tmp_path))


def walk(jira, queue, key, *moves):
    settle(jira, queue)  # the creation is judged first, in every run
    for actor, status in moves:
        jira.transition(key, status, as_user=actor)
        settle(jira, queue)


def roles(jira, key):
    return [role for _, role in recorded_approvals(jira, key)]


def decisions(jira, key):
    return [(e["decision"], e["to"]) for e in audit_trail(jira, key)]


def test_a_soft_freeze_holds_the_cab_and_gives_way_to_the_exception(jira, web, worker, queue):
    jira.create_freeze("dana", "Payments launch", datetime(2026, 12, 1, 9, tzinfo=UTC),
                       datetime(2026, 12, 1, 12, tzinfo=UTC), "Soft")
    settle(jira, queue)
    key = jira.create_change_request("alice", "Rotate edge TLS certificates", NORMAL)
    walk(jira, queue, key, ("alice", "Awaiting Approval"), ("carol", "Approved"))
    assert jira.status_of(key) == "Awaiting Approval"
    walk(jira, queue, key, ("dana", "Approved"), ("alice", "Implementing"))
    assert jira.status_of(key) == "Implementing"
    assert roles(jira, key) == ["cab", "freeze_exception"]
    assert decisions(jira, key) == [("allowed", "Draft"), ("allowed", "Awaiting Approval"),
                                    ("held by a freeze", "Approved"), ("approved", "Approved"),
                                    ("allowed", "Implementing")]


def test_a_hard_freeze_holds_a_normal_change_and_lets_an_emergency_through(jira, web, worker,
                                                                            queue):
    jira.create_freeze("dana", "Datacentre move", datetime(2026, 12, 1, 9, tzinfo=UTC),
                       datetime(2026, 12, 1, 12, tzinfo=UTC), "Hard")
    settle(jira, queue)
    normal = jira.create_change_request("alice", "Rotate edge TLS certificates", NORMAL)
    emergency = jira.create_change_request("alice", "Fail over the primary DB", EMERGENCY)
    walk(jira, queue, normal, ("alice", "Awaiting Approval"), ("carol", "Approved"),
         ("dana", "Approved"))
    walk(jira, queue, emergency, ("alice", "Awaiting Approval"), ("dana", "Approved"),
         ("erin", "Approved"), ("alice", "Implementing"))
    assert (jira.status_of(normal), jira.status_of(emergency)) == ("Awaiting Approval",
                                                                   "Implementing")
    assert decisions(jira, normal) == [("allowed", "Draft"), ("allowed", "Awaiting Approval"),
                                       ("held by a freeze", "Approved"),
                                       ("held by a freeze", "Approved")]


# The example Weekend freeze ends Monday 08:00 London time: 07:00 UTC on 30 March 2026, the
# first Monday of summer time (65 hours from Friday 15:00 GMT would be 08:00 UTC).
@pytest.mark.parametrize("start, status", [
    ("2026-03-30T06:30:00.000+0000", "Awaiting Approval"),
    ("2026-03-30T07:30:00.000+0000", "Approved"),
], ids=["07:30-BST-in-the-weekend-freeze", "08:30-BST-after-it"])
def test_the_weekend_freeze_ends_on_the_clock_across_summer_time(jira, web, worker, queue, start,
                                                                  status):
    end = start.replace(":30:00", ":45:00")
    key = jira.create_change_request("alice", "Rotate edge TLS certificates",
                                     {**NORMAL, "Planned Start": start, "Planned End": end})
    walk(jira, queue, key, ("alice", "Awaiting Approval"), ("carol", "Approved"))
    assert jira.status_of(key) == status
