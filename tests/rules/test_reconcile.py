"""The sweep's decisions: which enforcement jobs an issue's changelog calls for, and from when to search."""

import dataclasses
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from jobs.registry import JOBS
from rules.change_history import HistoryEntry
from rules.job_names import JobName, edit_job_id, transition_job_id
from rules.material_edit import FieldChange
from rules.policy import FieldRole as F
from rules.policy import StatusRole as S
from rules.reconcile import (JobRequest, advanced_mark, epoch_ms, missing_jobs, parse_jira_time,
                             sweep_jql, sweep_since, freeze_sweep_jql)
from tests.fixture_files import load_fixture
from webhooks import routes
from webhooks.events import parse_event
from webhooks.router import Context
from worker.policy_file import load_policy

from .builders import BOT, STATUS_IDS as ID

POLICY = load_policy()

ALICE, CAROL = "712020:alice", "712020:carol"
AT = "2026-11-24T10:00:00.000+0000"
AT_MS = 1795514400000
ROLLBACK = FieldChange(F.ROLLBACK_PLAN, "Revert the PR.", "TBD")


def move(id, actor, frm, to, at=AT):
    return HistoryEntry(id, actor, at, ID[frm] if frm else None, ID[to])


def edit(id, actor, at=AT):
    return HistoryEntry(id, actor, at, edits=(ROLLBACK,))


def transition_job(id, actor, frm, to, timestamp=AT_MS):
    return JobRequest(JobName.ENFORCE_TRANSITION, f"cg-transition-CHG-9-{id}", {
        "issue_key": "CHG-9", "event_id": "sweep", "timestamp": timestamp,
        "changelog_id": str(id), "from_status_id": ID[frm] if frm else None,
        "to_status_id": ID[to], "actor_account_id": actor})


def edit_job(id, actor, timestamp=AT_MS):
    return JobRequest(JobName.ENFORCE_EDIT, f"cg-edit-CHG-9-{id}", {
        "issue_key": "CHG-9", "event_id": "sweep", "timestamp": timestamp,
        "changelog_id": str(id), "actor_account_id": actor})


SUBMITTED = move(10, ALICE, S.DRAFT, S.AWAITING_APPROVAL)
APPROVED = move(11, CAROL, S.AWAITING_APPROVAL, S.APPROVED)
BOT_REVERT = move(12, BOT, S.AWAITING_APPROVAL, S.DRAFT)
BOTH = HistoryEntry(13, ALICE, AT, ID[S.APPROVED], ID[S.IMPLEMENTING], (ROLLBACK,))

CASES = [
    ((), None, ()),
    ((SUBMITTED,), 10, ()),
    ((SUBMITTED,), None, (transition_job(10, ALICE, S.DRAFT, S.AWAITING_APPROVAL),)),
    ((SUBMITTED, APPROVED), 10, (transition_job(11, CAROL, S.AWAITING_APPROVAL, S.APPROVED),)),
    ((SUBMITTED, BOT_REVERT), 10, ()),
    ((move(12, BOT, S.DRAFT, S.AWAITING_APPROVAL),), None, ()),
    ((SUBMITTED, move(11, ALICE, S.AWAITING_APPROVAL, S.DRAFT),
      move(14, ALICE, S.DRAFT, S.AWAITING_APPROVAL)), 9,
     (transition_job(14, ALICE, S.DRAFT, S.AWAITING_APPROVAL),)),
    ((SUBMITTED, APPROVED, edit(15, ALICE)), 11, (edit_job(15, ALICE),)),
    ((SUBMITTED, APPROVED, edit(15, ALICE), edit(16, CAROL)), 11, (edit_job(16, CAROL),)),
    ((SUBMITTED, APPROVED, edit(15, BOT)), 11, ()),
    ((SUBMITTED, edit(9, ALICE)), 10, ()),
    ((SUBMITTED, APPROVED, edit(15, ALICE), move(16, ALICE, S.APPROVED, S.IMPLEMENTING)), 11,
     (edit_job(15, ALICE), transition_job(16, ALICE, S.APPROVED, S.IMPLEMENTING))),
    ((SUBMITTED, APPROVED, move(14, ALICE, S.APPROVED, S.IMPLEMENTING), edit(15, ALICE)), 11,
     (transition_job(14, ALICE, S.APPROVED, S.IMPLEMENTING), edit_job(15, ALICE))),
    ((SUBMITTED, APPROVED, BOTH), 11,
     (transition_job(13, ALICE, S.APPROVED, S.IMPLEMENTING), edit_job(13, ALICE))),
    ((move(10, None, None, S.AWAITING_APPROVAL, at=""),), None,
     (transition_job(10, None, None, S.AWAITING_APPROVAL, timestamp=42),)),
]


@pytest.mark.parametrize("history, handled, expected", CASES, ids=[
    "no-changelog", "nothing-new", "move-not-handled", "approval-not-handled",
    "only-our-own-revert-since", "a-move-by-the-bot", "several-moves-only-the-latest",
    "edit-after-approval", "several-edits-only-the-latest", "edit-by-the-bot",
    "edit-before-the-handled-move", "edit-then-move", "move-then-edit",
    "move-and-edit-in-one-entry", "no-actor-no-time-uses-the-fallback",
])
def test_missing_jobs(history, handled, expected):
    assert missing_jobs("CHG-9", history, handled=handled, bot_account_id=BOT, namespace="cg",
                        fallback_timestamp=42) == expected


def test_the_sweep_asks_for_the_very_job_the_webhook_router_enqueues():
    # One Jira status move, seen once as a webhook and once in the changelog by the sweep.
    body = load_fixture("issue_updated_status_to_awaiting_approval")
    event = parse_event(body)
    [routed] = routes.router.dispatch(event, Context(event_id="delivery-1", policy=load_policy(),
                                                     namespace="cg"))
    entry = HistoryEntry(int(event.changelog_id), event.actor_account_id, AT,
                         event.status_change.from_id, event.status_change.to_id)
    [swept] = missing_jobs(event.issue_key, (entry,), handled=None, bot_account_id=BOT,
                           namespace="cg")
    # The sweep names the job (rules/ cannot import jobs/); the router holds the function.
    assert JOBS[swept.func] is routed.func
    same = lambda job: (job.job_id, {k: v for k, v in job.kwargs.items()  # noqa: E731
                                     if k not in {"event_id", "timestamp"}})
    assert same(swept) == same(routed)
    assert swept.job_id == transition_job_id("cg", "CHG-7", "20107") == "cg-transition-CHG-7-20107"
    assert edit_job_id("cg", "CHG-7", "20107") == "cg-edit-CHG-7-20107"


UTC = timezone.utc


@pytest.mark.parametrize("text, expected", [
    ("2026-11-24T10:00:00.000+0000", datetime(2026, 11, 24, 10, tzinfo=UTC)),
    ("2026-11-24T11:00:00.5+01:00", datetime(2026, 11, 24, 10, 0, 0, 500000, tzinfo=UTC)),
    ("2026-11-24T10:00:00", None),
    ("yesterday", None),
    (None, None),
], ids=["jira", "offset", "naive", "garbage", "missing"])
def test_parse_jira_time(text, expected):
    assert parse_jira_time(text) == expected


def test_epoch_ms():
    assert (epoch_ms(AT, 7), epoch_ms("", 7)) == (AT_MS, 7)


NOW = datetime(2026, 11, 24, 10, 3, 30, tzinfo=UTC)


@pytest.mark.parametrize("mark, expected", [
    (None, datetime(2026, 11, 24, 9, 57, 30, tzinfo=UTC)),
    (datetime(2026, 11, 24, 9, 0, 15, tzinfo=UTC), datetime(2026, 11, 24, 8, 59, 15, tzinfo=UTC)),
], ids=["first-run-one-period-back", "from-the-mark"])
def test_sweep_since_subtracts_the_overlap(mark, expected):
    assert sweep_since(mark, NOW, timedelta(minutes=5)) == expected


@pytest.mark.parametrize("scope, zone, expected", [
    ('issuetype = "Change Request"', UTC,
     '(issuetype = "Change Request") AND updated >= "2026-11-24 09:57" ORDER BY updated ASC'),
    ('issuetype = "Change Request"', ZoneInfo("America/New_York"),
     '(issuetype = "Change Request") AND updated >= "2026-11-24 04:57" ORDER BY updated ASC'),
    ("project = CHG OR project = OPS", UTC,
     '(project = CHG OR project = OPS) AND updated >= "2026-11-24 09:57" ORDER BY updated ASC'),
], ids=["utc", "account-in-new-york", "scope-with-or"])
def test_sweep_jql_is_in_the_account_s_zone_to_the_minute(scope, zone, expected):
    since = datetime(2026, 11, 24, 9, 57, 59, tzinfo=UTC)
    assert sweep_jql(dataclasses.replace(POLICY, scope_jql=scope), since, zone) == expected


EARLY, LATE = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)


@pytest.mark.parametrize("mark, updated, expected", [
    (None, LATE, LATE), (EARLY, LATE, LATE), (LATE, EARLY, LATE), (EARLY, None, EARLY),
    (None, None, None),
], ids=["first", "forward", "never-back", "unknown-update", "nothing"])
def test_advanced_mark(mark, updated, expected):
    assert advanced_mark(mark, updated) == expected


@pytest.mark.parametrize("freezes, projects, expected", [
    ({}, ("CHG",), 'project in (CHG) AND issuetype = "Change Freeze" AND updated >= '
                   '"2026-11-24 09:57" ORDER BY updated ASC'),
    ({"issue_type": 'The "Freeze"'}, ("CHG", "OPS"),
     'project in (CHG, OPS) AND issuetype = "The \\"Freeze\\"" AND updated >= '
     '"2026-11-24 09:57" ORDER BY updated ASC'),
    ({}, (), 'issuetype = "Change Freeze" AND updated >= "2026-11-24 09:57" ORDER BY updated ASC'),
    ({"issue_type": None}, ("CHG",), None),
], ids=["default", "quoted-type-two-projects", "no-project-keys", "no-freezes-in-jira"])
def test_freeze_sweep_jql(freezes, projects, expected):
    policy = dataclasses.replace(POLICY, scope_project_keys=projects,
                                 freezes=dataclasses.replace(POLICY.freezes, **freezes))
    since = datetime(2026, 11, 24, 9, 57, 59, tzinfo=UTC)
    assert freeze_sweep_jql(policy, since, UTC) == expected
