"""Declaring a freeze: what it asks of changeguard, which approvals it catches, its one message."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr

from rules.cab_schedule import CabCalendar
from rules.freeze import Freeze, FreezeIssue, IncompleteFreeze, freeze_to_json
from rules.freeze_declaration import (MAX_NOTICES, NOT_HEAD, Action, ApprovedChange, Caught,
                                      Declaration, DeclarationFacts, FreezeRecord,
                                      caught_changes, cancelled_alert, declaration_plan,
                                      declared_alert, is_gone, judge_declaration,
                                      parse_freeze_record)
from rules.issue_record import MAX_AUDIT_ENTRIES, AuditEntry
from rules.job_names import JobName, freeze_job_id
from rules.plan import AddComment, FollowUp, Plan, SlackAlert, WriteRecord
from rules.policy import Category, FreezeKind, StatusRole
from worker.policy_file import load_policy

from .builders import SITE, STATUS_IDS

POLICY = load_policy()
CALENDAR = CabCalendar(rule=rrulestr(POLICY.cab.meeting_rrule, dtstart=datetime(2024, 1, 1)),
                       zone=ZoneInfo("Europe/London"), zone_name="Europe/London",
                       agenda_hours_before=24)
UTC = timezone.utc
DANA, ALICE = "712020:dana", "712020:alice"
BROWSE = "https://example.atlassian.net/browse"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def freeze(start=utc(2030, 3, 1, 18), end=utc(2030, 3, 4, 8), kind=FreezeKind.HARD,
           reason="Auditors are on site.") -> Freeze:
    return Freeze("Quarter close", kind, start, end, reason, "CHG-50")


QUARTER = freeze()


def issue(status=StatusRole.DRAFT) -> FreezeIssue:
    return FreezeIssue(key="CHG-50", summary="Quarter close", issue_type="Change Freeze",
                       status_id=STATUS_IDS[status], reporter_account_id=DANA,
                       start=QUARTER.start, end=QUARTER.end, kind_value="Hard",
                       reason=QUARTER.reason)


NOT_HEAD_TEXT = NOT_HEAD.format(key="CHG-50", group="head-of-engineering",
                                issue_type="Change Freeze")
INCOMPLETE = IncompleteFreeze("CHG-50", "CHG-50 is not enforced as a change freeze until it has "
                                        "Planned End: fill it in and the freeze applies from "
                                        "then on.")
ENFORCED = FreezeRecord(enforced=QUARTER, held=("CHG-7",), checks=1)

# id, issue (None: deleted), what it declares, declarer in head-of-engineering, record, decision
DECISIONS = [
    ("deleted-after-enforcing", None, None, True, ENFORCED,
     Declaration(Action.CANCEL, previous=QUARTER)),
    ("deleted-never-enforced", None, None, True, FreezeRecord(), Declaration(Action.NOTHING)),
    ("cancelled", issue(StatusRole.CANCELLED), QUARTER, True, ENFORCED,
     Declaration(Action.CANCEL, previous=QUARTER)),
    ("rejected-never-enforced", issue(StatusRole.REJECTED), QUARTER, True, FreezeRecord(),
     Declaration(Action.NOTHING)),
    ("not-head", issue(), QUARTER, False, FreezeRecord(),
     Declaration(Action.NOT_ENFORCED, notice=NOT_HEAD_TEXT)),
    ("not-head-said-already", issue(), QUARTER, False, FreezeRecord(notices=(NOT_HEAD_TEXT,)),
     Declaration(Action.NOTHING)),
    ("not-head-any-more", issue(), QUARTER, False,
     dataclasses.replace(ENFORCED, notices=(NOT_HEAD_TEXT,)),
     Declaration(Action.NOT_ENFORCED, previous=QUARTER, notice="")),
    ("not-head-and-incomplete-says-who-first", issue(), INCOMPLETE, False, FreezeRecord(),
     Declaration(Action.NOT_ENFORCED, notice=NOT_HEAD_TEXT)),
    ("incomplete", issue(), INCOMPLETE, True, FreezeRecord(),
     Declaration(Action.NOT_ENFORCED, notice=INCOMPLETE.text)),
    ("incomplete-another-problem", issue(), INCOMPLETE, True,
     FreezeRecord(notices=(NOT_HEAD_TEXT,)),
     Declaration(Action.NOT_ENFORCED, notice=INCOMPLETE.text)),
    ("new", issue(), QUARTER, True, FreezeRecord(), Declaration(Action.ENFORCE, QUARTER, None)),
    ("unchanged", issue(), QUARTER, True, ENFORCED, Declaration(Action.NOTHING, QUARTER, QUARTER)),
    ("ends-later", issue(), freeze(end=utc(2030, 3, 5, 8)), True, ENFORCED,
     Declaration(Action.ENFORCE, freeze(end=utc(2030, 3, 5, 8)), QUARTER)),
    ("starts-earlier", issue(), freeze(start=utc(2030, 3, 1, 9)), True, ENFORCED,
     Declaration(Action.ENFORCE, freeze(start=utc(2030, 3, 1, 9)), QUARTER)),
    ("soft-made-hard", issue(), QUARTER, True,
     FreezeRecord(enforced=freeze(kind=FreezeKind.SOFT)),
     Declaration(Action.ENFORCE, QUARTER, freeze(kind=FreezeKind.SOFT))),
    ("hard-made-soft", issue(), freeze(kind=FreezeKind.SOFT), True, ENFORCED,
     Declaration(Action.NARROWED, freeze(kind=FreezeKind.SOFT), QUARTER)),
    ("shorter", issue(), freeze(end=utc(2030, 3, 3)), True, ENFORCED,
     Declaration(Action.NARROWED, freeze(end=utc(2030, 3, 3)), QUARTER)),
]


@pytest.mark.parametrize(("issue_now", "declared", "head", "record", "expected"),
                         [d[1:] for d in DECISIONS], ids=[d[0] for d in DECISIONS])
def test_judge_declaration(issue_now, declared, head, record, expected):
    assert judge_declaration(issue_now, declared, head, record, site=SITE,
                             policy=POLICY) == expected


@pytest.mark.parametrize(("status", "gone"), [
    (StatusRole.DRAFT, False), (StatusRole.APPROVED, False), (StatusRole.CANCELLED, True),
    (StatusRole.REJECTED, True)], ids=lambda value: str(value))
def test_is_gone(status, gone):
    assert is_gone(issue(status), SITE) is gone
    assert is_gone(None, SITE) is True


def test_not_head_text_says_who_may_declare():
    assert NOT_HEAD_TEXT == (
        "CHG-50 is not enforced as a change freeze: only someone in head-of-engineering may "
        "declare one, and its reporter is not in head-of-engineering. Ask someone in "
        "head-of-engineering to declare it (they create the Change Freeze themselves, or are "
        "made its reporter); it is enforced from then on.")


ENTRY = {"at": "2030-02-01T09:00:00+00:00", "decision": "declared"}

RECORDS = [
    ("not-an-object", None, FreezeRecord()),
    ("a-change-record-without-freeze", {"audit": [ENTRY, "junk"]}, FreezeRecord(audit=(ENTRY,))),
    ("freeze-not-an-object", {"freeze": [], "audit": {}}, FreezeRecord()),
    ("complete", {"freeze": {"enforced": freeze_to_json(QUARTER), "held": ["CHG-7", 7],
                             "notices": ["n"], "checks": 2}, "audit": [ENTRY]},
     FreezeRecord(QUARTER, ("CHG-7",), ("n",), 2, (ENTRY,))),
    ("unreadable-freeze", {"freeze": {"enforced": {"name": "x"}, "checks": -1}}, FreezeRecord()),
    ("checks-not-a-number", {"freeze": {"enforced": None, "held": "CHG-7", "checks": True}},
     FreezeRecord()),
]


@pytest.mark.parametrize(("value", "expected"), [r[1:] for r in RECORDS],
                         ids=[r[0] for r in RECORDS])
def test_parse_freeze_record(value, expected):
    assert parse_freeze_record(value) == expected


def test_the_record_reads_back_what_it_writes_and_keeps_the_latest_entries():
    record = FreezeRecord(QUARTER, ("CHG-7",), ("n",), 3)
    for number in range(MAX_AUDIT_ENTRIES + 2):
        record = record.with_entry(AuditEntry(str(number), "declared", "freeze", DANA, None,
                                              None, None), checks=number)
    assert parse_freeze_record(record.to_json()) == record
    assert [e["at"] for e in record.audit] == [str(n) for n in range(2, MAX_AUDIT_ENTRIES + 2)]


def approved_change(key, category=Category.NORMAL, exception=False,
                    window=(utc(2030, 3, 2, 10), utc(2030, 3, 2, 11))) -> ApprovedChange:
    return ApprovedChange(key, f"Change {key}", category, exception, window)


IN_QUARTER = (utc(2030, 3, 2, 10), utc(2030, 3, 2, 11))
AFTER_QUARTER = (utc(2030, 3, 4, 9), utc(2030, 3, 4, 10))  # in the widened freeze only
CHANGES = (
    approved_change("CHG-1"),
    approved_change("CHG-2", Category.EMERGENCY),
    approved_change("CHG-3", exception=True),
    approved_change("CHG-4", Category.STANDARD),
    approved_change("CHG-5", None),
    approved_change("CHG-6", window=None),
    approved_change("CHG-7", window=(utc(2030, 3, 4, 8), utc(2030, 3, 4, 9))),  # after it ends
    approved_change("CHG-8", window=AFTER_QUARTER),
    approved_change("CHG-9", exception=True, window=AFTER_QUARTER),
)
WIDER = freeze(end=utc(2030, 3, 5, 8))

# id, decision, keys of the changes caught
CAUGHT = [
    ("new-hard: all but Emergency", Declaration(Action.ENFORCE, QUARTER),
     ["CHG-1", "CHG-3", "CHG-4", "CHG-5"]),
    ("new-soft: the exception stays too", Declaration(Action.ENFORCE, freeze(kind=FreezeKind.SOFT)),
     ["CHG-1", "CHG-4", "CHG-5"]),
    ("widened: only the newly held", Declaration(Action.ENFORCE, WIDER, QUARTER),
     ["CHG-7", "CHG-8", "CHG-9"]),
    ("widened-soft: only the newly held, no exception",
     Declaration(Action.ENFORCE, freeze(end=utc(2030, 3, 5, 8), kind=FreezeKind.SOFT),
                 freeze(kind=FreezeKind.SOFT)), ["CHG-7", "CHG-8"]),
    ("soft-made-hard: every one held again", Declaration(Action.ENFORCE, QUARTER,
                                                         freeze(kind=FreezeKind.SOFT)),
     ["CHG-1", "CHG-3", "CHG-4", "CHG-5"]),
]


@pytest.mark.parametrize(("declaration", "keys"), [c[1:] for c in CAUGHT],
                         ids=[c[0] for c in CAUGHT])
def test_caught_changes(declaration, keys):
    caught = caught_changes(declaration, CHANGES, calendar=CALENDAR,
                            exception_group="head-of-engineering")
    assert [c.change.key for c in caught] == keys
    assert all(c.verdict.blocking == declaration.freeze for c in caught)


FACTS = DeclarationFacts(key="CHG-50", actor=DANA, at="2030-02-01T09:00:00+00:00",
                         browse_url=BROWSE)
CAUGHT_TWO = caught_changes(Declaration(Action.ENFORCE, QUARTER), CHANGES[:1] + CHANGES[3:4],
                            calendar=CALENDAR, exception_group="head-of-engineering")
DECLARED_SLACK = (
    f":snowflake: <{BROWSE}/CHG-50|CHG-50> “Quarter close”: hard freeze declared, Fri 1 Mar "
    "2030 18:00 to Mon 4 Mar 2030 08:00 (Europe/London). Reason: Auditors are on site.\n"
    "Approval withdrawn from 2 approved changes in it, moved back to Awaiting Approval; each has "
    "a comment saying how to proceed:\n"
    f"• <{BROWSE}/CHG-1|CHG-1> “Change CHG-1”, planned Sat 2 Mar 2030 10:00 to Sat 2 Mar 2030 "
    "11:00\n"
    f"• <{BROWSE}/CHG-4|CHG-4> “Change CHG-4”, planned Sat 2 Mar 2030 10:00 to Sat 2 Mar 2030 "
    "11:00")


def entry(decision, reason, detail, at=FACTS.at):
    return AuditEntry(at, decision, reason, DANA, None, None, None, detail).to_json()


def test_a_new_freeze_withdraws_each_caught_approval_records_then_tells_slack_once():
    plan = declaration_plan(Declaration(Action.ENFORCE, QUARTER), CAUGHT_TWO, FreezeRecord(),
                            FACTS, policy=POLICY, calendar=CALENDAR)
    follow = {"freeze": freeze_to_json(QUARTER), "check": 1, "actor_account_id": DANA,
              "at": FACTS.at}
    record = FreezeRecord(QUARTER, ("CHG-1", "CHG-4"), (), 1, (entry(
        "declared", "freeze",
        "hard 2030-03-01T18:00:00+00:00 to 2030-03-04T08:00:00+00:00; withdrawn: CHG-1, CHG-4"),))
    assert plan == Plan(
        {"action": "enforce", "freeze": "CHG-50", "withdrawn": ["CHG-1", "CHG-4"]},
        (FollowUp(JobName.WITHDRAW_FOR_FREEZE, "freeze-withdraw-CHG-50-1-CHG-1",
                  {"issue_key": "CHG-1", **follow}),
         FollowUp(JobName.WITHDRAW_FOR_FREEZE, "freeze-withdraw-CHG-50-1-CHG-4",
                  {"issue_key": "CHG-4", **follow}),
         WriteRecord(record.to_json()),
         SlackAlert("#deployments", DECLARED_SLACK)))


def test_a_widened_freeze_catching_nothing_still_says_so_and_counts_the_check():
    before = FreezeRecord(QUARTER, ("CHG-1",), (), 1, (entry("declared", "freeze", "x"),))
    later = dataclasses.replace(FACTS, at="2030-02-02T09:00:00+00:00")
    plan = declaration_plan(Declaration(Action.ENFORCE, WIDER, QUARTER), (), before, later,
                            policy=POLICY, calendar=CALENDAR)
    record = FreezeRecord(WIDER, ("CHG-1",), (), 2, before.audit + (entry(
        "widened", "freeze",
        "hard 2030-03-01T18:00:00+00:00 to 2030-03-05T08:00:00+00:00; withdrawn: none",
        at=later.at),))
    assert plan == Plan({"action": "enforce", "freeze": "CHG-50", "withdrawn": []}, (
        WriteRecord(record.to_json()),
        SlackAlert("#deployments", f":snowflake: <{BROWSE}/CHG-50|CHG-50> “Quarter close”: hard "
                   "freeze widened, Fri 1 Mar 2030 18:00 to Tue 5 Mar 2030 08:00 "
                   "(Europe/London). Reason: Auditors are on site.\n"
                   "No approved change is in it.")))


def test_a_narrowed_freeze_is_recorded_and_releases_nothing():
    shorter = freeze(end=utc(2030, 3, 3))
    plan = declaration_plan(Declaration(Action.NARROWED, shorter, QUARTER), (), ENFORCED, FACTS,
                            policy=POLICY, calendar=CALENDAR)
    record = dataclasses.replace(ENFORCED, enforced=shorter, audit=(entry(
        "narrowed", "freeze", "hard 2030-03-01T18:00:00+00:00 to 2030-03-03T00:00:00+00:00"),))
    assert plan == Plan({"action": "narrowed", "freeze": "CHG-50"},
                        (WriteRecord(record.to_json()),))


CANCELLED_SLACK = (
    f":sunny: <{BROWSE}/CHG-50|CHG-50> “Quarter close”: the hard freeze (Fri 1 Mar 2030 18:00 to "
    "Mon 4 Mar 2030 08:00, Europe/London) is {how}. It had held these changes; nothing is "
    "released by itself: submit them for approval again if they should go ahead in their "
    "windows:\n"
    f"• <{BROWSE}/CHG-7|CHG-7>")


@pytest.mark.parametrize("deleted", [False, True], ids=["cancelled", "deleted"])
def test_a_cancelled_or_deleted_freeze_names_the_changes_it_held(deleted):
    facts = dataclasses.replace(FACTS, deleted=deleted)
    plan = declaration_plan(Declaration(Action.CANCEL, previous=QUARTER), (), ENFORCED, facts,
                            policy=POLICY, calendar=CALENDAR)
    how = "deleted" if deleted else "cancelled"
    alert = SlackAlert("#deployments", CANCELLED_SLACK.format(how=how))
    record = FreezeRecord(None, (), (), 1, (entry(
        how, "freeze", "hard 2030-03-01T18:00:00+00:00 to 2030-03-04T08:00:00+00:00"),))
    # A deleted issue has nowhere to write the record.
    steps = (alert,) if deleted else (WriteRecord(record.to_json()), alert)
    assert plan == Plan({"action": "cancel", "freeze": "CHG-50", "held": ["CHG-7"]}, steps)


def test_a_cancelled_freeze_that_held_nothing_says_so():
    assert cancelled_alert(QUARTER, (), "cancelled", BROWSE, CALENDAR) == (
        f":sunny: <{BROWSE}/CHG-50|CHG-50> “Quarter close”: the hard freeze (Fri 1 Mar 2030 18:00 "
        "to Mon 4 Mar 2030 08:00, Europe/London) is cancelled. It had held no approved change.")


def test_not_enforced_comments_once_per_problem_and_records_it():
    said = FreezeRecord(notices=tuple(f"n{i}" for i in range(MAX_NOTICES)))
    plan = declaration_plan(Declaration(Action.NOT_ENFORCED, notice=NOT_HEAD_TEXT), (), said,
                            FACTS, policy=POLICY, calendar=CALENDAR)
    record = FreezeRecord(notices=said.notices[1:] + (NOT_HEAD_TEXT,), audit=(entry(
        "not enforced", "not_enforced", NOT_HEAD_TEXT),))
    assert plan == Plan({"action": "not_enforced", "freeze": "CHG-50"}, (
        AddComment({"type": "doc", "version": 1, "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": NOT_HEAD_TEXT}]}]}),
        WriteRecord(record.to_json())))


def test_not_enforced_any_more_without_a_new_problem_only_records():
    record = dataclasses.replace(ENFORCED, notices=(NOT_HEAD_TEXT,))
    plan = declaration_plan(Declaration(Action.NOT_ENFORCED, previous=QUARTER), (), record,
                            FACTS, policy=POLICY, calendar=CALENDAR)
    after = dataclasses.replace(record, enforced=None, audit=(entry(
        "not enforced", "not_enforced", "said before"),))
    assert plan == Plan({"action": "not_enforced", "freeze": "CHG-50"},
                        (WriteRecord(after.to_json()),))


@pytest.mark.parametrize(("reason", "sentence"), [
    ("Auditors are on site.", "Reason: Auditors are on site."),
    ("Peak sales", "Reason: Peak sales."),
    ("Why? ", "Reason: Why?"),
], ids=["full-stop", "no-stop", "question"])
def test_the_reason_reads_as_a_sentence(reason, sentence):
    text = declared_alert(freeze(reason=reason), "declared", (), BROWSE, CALENDAR)
    assert text.split("\n")[0].endswith(f"(Europe/London). {sentence}")


def test_a_caught_change_is_listed_with_its_window():
    caught = (Caught(approved_change("CHG-1", window=IN_QUARTER), CAUGHT_TWO[0].verdict),)
    assert declared_alert(QUARTER, "declared", caught, BROWSE, CALENDAR).split("\n")[1] == (
        "Approval withdrawn from 1 approved change in it, moved back to Awaiting Approval; each "
        "has a comment saying how to proceed:")


@pytest.mark.parametrize(("occurrence", "job_id"), [
    ("30001", "cg-freeze-CHG-50-30001"),
    ("deleted", "cg-freeze-CHG-50-deleted"),
    ("at1796205031047", "cg-freeze-CHG-50-at1796205031047"),
    ("at-1796205031047", "cg-freeze-CHG-50-at_1796205031047_3ba646897a"),
], ids=["changelog", "deleted", "created-without-changelog", "made-safe"])
def test_freeze_job_id(occurrence, job_id):
    assert freeze_job_id("cg", "CHG-50", occurrence) == job_id
