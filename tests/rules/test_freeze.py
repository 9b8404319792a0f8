"""Change freezes: recurring ones expanded in wall-clock time, one-off ones read from Jira, and
the verdict on a change whose window runs into them."""

import dataclasses
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr

from jobs.periodic import RULE_ANCHOR, cab_calendar
from rules.change_request import SnapshotError
from rules.freeze import (ALLOWED_EMERGENCY, declared_freezes_jql, ALLOWED_EXCEPTION, BACKWARDS, HARD_FREEZE,
                          INCOMPLETE, SOFT_AFTER_HARD, SOFT_FREEZE, Freeze, FreezeDecision,
                          FreezeIssue, FreezeRule, IncompleteFreeze, freeze_fields_to_fetch,
                          freeze_from_issue, freeze_verdict, overlapping, parse_freeze_issue,
                          recurring_freezes)
from rules.policy import (Category, parse_policy, FieldRole, FreezeFieldRole, FreezeKind, RecurringFreeze,
                          rrule_problem)
from rules.site_map import SiteMap
from tests.rules.builders import FIELD_IDS, SITE, STATUS_IDS
from tests.builders import with_example_freezes
from worker.settings import DEFAULT_POLICY_PATH

UTC = timezone.utc
LONDON = ZoneInfo("Europe/London")
# The default policy with its example recurring freezes (Weekend, Year end) on.
POLICY = parse_policy(with_example_freezes(DEFAULT_POLICY_PATH.read_text(encoding="utf-8")))
CALENDAR = cab_calendar(POLICY)
HOE = "head-of-engineering"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def loaded(*specs: RecurringFreeze) -> tuple[FreezeRule, ...]:
    """Build the rules as the shell does: dateutil in wall-clock time, the zone from zoneinfo."""
    return tuple(FreezeRule(spec, rrulestr(spec.rrule, dtstart=RULE_ANCHOR, cache=True),
                            ZoneInfo(spec.timezone)) for spec in specs)


DEFAULT_RULES = loaded(*POLICY.freezes.recurring)
WEEKEND, YEAR_END = POLICY.freezes.recurring


def weekend(start: datetime, end: datetime) -> Freeze:
    return Freeze("Weekend", FreezeKind.SOFT, start, end, WEEKEND.reason, "policy")


def year_end(start: datetime, end: datetime) -> Freeze:
    return Freeze("Year end", FreezeKind.HARD, start, end, YEAR_END.reason, "policy")


# Europe/London: summer time starts 29 Mar 2026 and 28 Mar 2027, ends 25 Oct 2026 and 31 Oct 2027.
# Wall-clock duration: Friday 15:00 to Monday 08:00 local is 64 real hours when the clocks go
# forward and 66 when they go back; every other weekend it is 65.
RECURRING = [
    ("spring forward 2026: 15:00 GMT to 08:00 BST (64 h)",
     utc(2026, 3, 28), utc(2026, 3, 29),
     [weekend(utc(2026, 3, 27, 15), utc(2026, 3, 30, 7))], timedelta(hours=64)),
    ("fall back 2026: 15:00 BST to 08:00 GMT (66 h)",
     utc(2026, 10, 24), utc(2026, 10, 25),
     [weekend(utc(2026, 10, 23, 14), utc(2026, 10, 26, 8))], timedelta(hours=66)),
    ("spring forward 2027 (64 h)",
     utc(2027, 3, 27), utc(2027, 3, 28),
     [weekend(utc(2027, 3, 26, 15), utc(2027, 3, 29, 7))], timedelta(hours=64)),
    ("fall back 2027, into November (66 h)",
     utc(2027, 10, 30), utc(2027, 10, 31),
     [weekend(utc(2027, 10, 29, 14), utc(2027, 11, 1, 8))], timedelta(hours=66)),
    ("summer weekend: 15:00 BST is 14:00 UTC (65 h)",
     utc(2026, 7, 11), utc(2026, 7, 12),
     [weekend(utc(2026, 7, 10, 14), utc(2026, 7, 13, 7))], timedelta(hours=65)),
    ("year end spans the new year, and the Christmas weekend within it",
     utc(2026, 12, 27), utc(2026, 12, 29),
     [year_end(utc(2026, 12, 24), utc(2027, 1, 2)),
      weekend(utc(2026, 12, 25, 15), utc(2026, 12, 28, 8))], timedelta(days=9)),
    ("a range in early January still finds last year's year end (and Friday 1 Jan's weekend)",
     utc(2027, 1, 1, 23), utc(2027, 1, 2, 1),
     [year_end(utc(2026, 12, 24), utc(2027, 1, 2)),
      weekend(utc(2027, 1, 1, 15), utc(2027, 1, 4, 8))], timedelta(days=9)),
    ("a range ending as the weekend starts does not include it",
     utc(2026, 7, 10, 9), utc(2026, 7, 10, 14), [], None),
    ("a range starting as the weekend ends does not include it",
     utc(2026, 7, 13, 7), utc(2026, 7, 13, 9), [], None),
    ("a range in the working week has none",
     utc(2026, 7, 14), utc(2026, 7, 17), [], None),
]


@pytest.mark.parametrize(("start", "end", "expected", "length"),
                         [row[1:] for row in RECURRING], ids=[row[0] for row in RECURRING])
def test_recurring_freezes_are_wall_clock_in_their_zone(start, end, expected, length):
    found = recurring_freezes(DEFAULT_RULES, start, end)
    assert found == tuple(expected)
    if expected:
        assert expected[0].end - expected[0].start == length
        # Whatever the real length, the freeze runs Friday 15:00 to Monday 08:00 on the clock
        # (or 24 December 00:00 to 2 January 00:00).
        local = [(f.start.astimezone(LONDON), f.end.astimezone(LONDON)) for f in found]
        assert {(s.strftime("%a %H:%M"), e.strftime("%a %H:%M")) for s, e in local} <= {
            ("Fri 15:00", "Mon 08:00"), ("Thu 00:00", "Sat 00:00")}


def test_each_recurring_freeze_follows_its_own_zone():
    tokyo = RecurringFreeze("Tokyo month end", "FREQ=MONTHLY;BYMONTHDAY=-1;BYHOUR=18",
                            timedelta(hours=14), "Asia/Tokyo", FreezeKind.HARD, "Closing.")
    found = recurring_freezes(loaded(WEEKEND, tokyo), utc(2026, 7, 31), utc(2026, 8, 1))
    assert found == (
        Freeze("Tokyo month end", FreezeKind.HARD, utc(2026, 7, 31, 9), utc(2026, 7, 31, 23),
               "Closing.", "policy"),
        weekend(utc(2026, 7, 31, 14), utc(2026, 8, 3, 7)),
    )


def test_times_the_clocks_skip_or_repeat():
    nightly = RecurringFreeze("Nightly batch", "FREQ=DAILY;BYHOUR=1;BYMINUTE=30",
                              timedelta(hours=1), "Europe/London", FreezeKind.HARD, "Batch.")
    rules = loaded(nightly)
    # 29 Mar 2026: 01:30 does not exist; as RFC 5545 says, it takes the offset before the gap
    # (GMT), i.e. 02:30 BST, which is also when 02:30 wall-clock ends it: empty, so dropped.
    spring = recurring_freezes(rules, utc(2026, 3, 28, 12), utc(2026, 3, 30, 12))
    # 25 Oct 2026: 01:30 happens twice; the first (BST) is meant, and 02:30 GMT ends it.
    autumn = recurring_freezes(rules, utc(2026, 10, 25), utc(2026, 10, 25, 12))
    assert [(f.start, f.end) for f in spring + autumn] == [
        (utc(2026, 3, 30, 0, 30), utc(2026, 3, 30, 1, 30)),  # the next night, as ever
        (utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 2, 30)),
    ]


def test_a_rule_that_has_ended_yields_nothing():
    ended = RecurringFreeze("Old", "FREQ=WEEKLY;BYDAY=MO;UNTIL=20250101", timedelta(hours=8),
                            "Europe/London", FreezeKind.SOFT, "Gone.")
    assert recurring_freezes(loaded(ended), utc(2026, 1, 1), utc(2027, 1, 1)) == ()


def test_freeze_key_and_title():
    recurring = weekend(utc(2026, 7, 10, 14), utc(2026, 7, 13, 7))
    declared = Freeze("Black Friday", FreezeKind.HARD, utc(2026, 11, 27), utc(2026, 11, 30),
                      "Peak sales.", "CHG-50")
    assert (recurring.key, recurring.title) == ("Weekend@20260710T1400Z", '"Weekend"')
    assert (declared.key, declared.title) == ("CHG-50", 'CHG-50 "Black Friday"')


FRIDAY = weekend(utc(2026, 7, 10, 14), utc(2026, 7, 13, 7))
OVERLAPS = [
    ("window inside", utc(2026, 7, 11, 10), utc(2026, 7, 11, 11), (FRIDAY,)),
    ("window around", utc(2026, 7, 10, 9), utc(2026, 7, 13, 9), (FRIDAY,)),
    ("window ends as it starts", utc(2026, 7, 10, 13), utc(2026, 7, 10, 14), ()),
    ("window ends a second into it", utc(2026, 7, 10, 13), utc(2026, 7, 10, 14, 0, 1), (FRIDAY,)),
    ("window starts as it ends", utc(2026, 7, 13, 7), utc(2026, 7, 13, 8), ()),
    ("window starts a second before it ends", utc(2026, 7, 13, 6, 59, 59), utc(2026, 7, 13, 8),
     (FRIDAY,)),
    ("other zone, same instant: 15:00 BST is inside",
     datetime(2026, 7, 10, 15, tzinfo=LONDON), datetime(2026, 7, 10, 16, tzinfo=LONDON),
     (FRIDAY,)),
]


@pytest.mark.parametrize(("start", "end", "expected"), [row[1:] for row in OVERLAPS],
                         ids=[row[0] for row in OVERLAPS])
def test_overlapping_is_half_open(start, end, expected):
    assert overlapping(start, end, [FRIDAY]) == expected


def test_overlapping_orders_by_start():
    later = year_end(utc(2026, 12, 24), utc(2027, 1, 2))
    assert overlapping(utc(2026, 1, 1), utc(2027, 6, 1), [later, FRIDAY]) == (FRIDAY, later)


XMAS = year_end(utc(2026, 12, 24), utc(2027, 1, 2))
XMAS_WEEKEND = weekend(utc(2026, 12, 25, 15), utc(2026, 12, 28, 8))
NEW_YEAR_WEEKEND = weekend(utc(2027, 1, 1, 15), utc(2027, 1, 4, 8))
LAUNCH = Freeze("Launch week", FreezeKind.SOFT, utc(2026, 12, 28), utc(2027, 1, 8),
                "New app launch.", "CHG-51")
IN_XMAS = (utc(2026, 12, 28, 7), utc(2026, 12, 28, 9))  # Mon 28 Dec: year end + weekend end
LONG = (utc(2026, 12, 31, 10), utc(2027, 1, 2, 12))  # into the new-year weekend too

VERDICTS = [
    ("no freeze: clear", Category.NORMAL, False, (utc(2026, 7, 14, 10), utc(2026, 7, 14, 11)),
     [FRIDAY, XMAS], FreezeDecision.CLEAR, (), None, ""),
    ("hard freeze blocks Normal", Category.NORMAL, False, (utc(2026, 12, 30, 10),
     utc(2026, 12, 30, 11)), [XMAS], FreezeDecision.BLOCKED, (XMAS,), XMAS,
     HARD_FREEZE.format(key="CHG-7", freeze='"Year end"', until="Sat 2 Jan 2027 00:00 (Europe/London)")),
    ("hard freeze blocks Standard even with the exception", Category.STANDARD, True,
     (utc(2026, 12, 30, 10), utc(2026, 12, 30, 11)), [XMAS], FreezeDecision.BLOCKED, (XMAS,),
     XMAS, HARD_FREEZE.format(key="CHG-7", freeze='"Year end"', until="Sat 2 Jan 2027 00:00 (Europe/London)")),
    ("hard freeze lets Emergency through", Category.EMERGENCY, False,
     (utc(2026, 12, 30, 10), utc(2026, 12, 30, 11)), [XMAS], FreezeDecision.EMERGENCY, (XMAS,),
     None, ALLOWED_EMERGENCY.format(key="CHG-7", kind="hard", freeze='"Year end"',
                                    until="Sat 2 Jan 2027 00:00 (Europe/London)")),
    ("soft freeze blocks Normal without the exception", Category.NORMAL, False,
     (utc(2026, 7, 11, 10), utc(2026, 7, 11, 11)), [FRIDAY], FreezeDecision.BLOCKED, (FRIDAY,),
     FRIDAY, SOFT_FREEZE.format(key="CHG-7", freeze='"Weekend"', until="Mon 13 Jul 2026 08:00 (Europe/London)",
                                group=HOE)),
    ("soft freeze lets Normal through with the exception", Category.NORMAL, True,
     (utc(2026, 7, 11, 10), utc(2026, 7, 11, 11)), [FRIDAY], FreezeDecision.EXCEPTION,
     (FRIDAY,), None, ALLOWED_EXCEPTION.format(key="CHG-7", freeze='"Weekend"',
                                               until="Mon 13 Jul 2026 08:00 (Europe/London)", group=HOE)),
    ("soft freeze lets Standard through with the exception", Category.STANDARD, True,
     (utc(2026, 7, 11, 10), utc(2026, 7, 11, 11)), [FRIDAY], FreezeDecision.EXCEPTION,
     (FRIDAY,), None, ALLOWED_EXCEPTION.format(key="CHG-7", freeze='"Weekend"',
                                               until="Mon 13 Jul 2026 08:00 (Europe/London)", group=HOE)),
    ("soft freeze lets Emergency through without the exception", Category.EMERGENCY, False,
     (utc(2026, 7, 11, 10), utc(2026, 7, 11, 11)), [FRIDAY], FreezeDecision.EMERGENCY,
     (FRIDAY,), None, ALLOWED_EMERGENCY.format(key="CHG-7", kind="soft", freeze='"Weekend"',
                                               until="Mon 13 Jul 2026 08:00 (Europe/London)")),
    ("no category counts as not Emergency", None, False,
     (utc(2026, 7, 11, 10), utc(2026, 7, 11, 11)), [FRIDAY], FreezeDecision.BLOCKED, (FRIDAY,),
     FRIDAY, SOFT_FREEZE.format(key="CHG-7", freeze='"Weekend"', until="Mon 13 Jul 2026 08:00 (Europe/London)",
                                group=HOE)),
    # Several freezes: the text names the one that ends last, so "until" is when it could go.
    ("two softs: the later-ending is named", Category.NORMAL, False, IN_XMAS,
     [XMAS_WEEKEND, LAUNCH], FreezeDecision.BLOCKED, (XMAS_WEEKEND, LAUNCH), LAUNCH,
     SOFT_FREEZE.format(key="CHG-7", freeze='CHG-51 "Launch week"',
                        until="Fri 8 Jan 2027 00:00 (Europe/London)", group=HOE)),
    ("hard and soft, the hard ends last: hard is named", Category.NORMAL, False, IN_XMAS,
     [XMAS, XMAS_WEEKEND], FreezeDecision.BLOCKED, (XMAS, XMAS_WEEKEND), XMAS,
     HARD_FREEZE.format(key="CHG-7", freeze='"Year end"', until="Sat 2 Jan 2027 00:00 (Europe/London)")),
    ("hard and soft, the soft ends last: no exception would do", Category.NORMAL, False, IN_XMAS,
     [XMAS, LAUNCH], FreezeDecision.BLOCKED, (XMAS, LAUNCH), LAUNCH,
     SOFT_AFTER_HARD.format(key="CHG-7", freeze='CHG-51 "Launch week"',
                            until="Fri 8 Jan 2027 00:00 (Europe/London)", hard='"Year end"')),
    ("with the exception only the hard freeze holds", Category.NORMAL, True, IN_XMAS,
     [XMAS, LAUNCH], FreezeDecision.BLOCKED, (XMAS, LAUNCH), XMAS,
     HARD_FREEZE.format(key="CHG-7", freeze='"Year end"', until="Sat 2 Jan 2027 00:00 (Europe/London)")),
    ("equal ends: the hard one is named", Category.NORMAL, False, IN_XMAS,
     [XMAS, Freeze("Audit", FreezeKind.SOFT, utc(2026, 12, 27), utc(2027, 1, 2), "Audit.",
                   "CHG-52")],
     FreezeDecision.BLOCKED, (XMAS, Freeze("Audit", FreezeKind.SOFT, utc(2026, 12, 27),
                                           utc(2027, 1, 2), "Audit.", "CHG-52")), XMAS,
     HARD_FREEZE.format(key="CHG-7", freeze='"Year end"', until="Sat 2 Jan 2027 00:00 (Europe/London)")),
    ("Emergency across three freezes names the last to end", Category.EMERGENCY, False, LONG,
     [XMAS, NEW_YEAR_WEEKEND, LAUNCH], FreezeDecision.EMERGENCY,
     (XMAS, LAUNCH, NEW_YEAR_WEEKEND), None,
     ALLOWED_EMERGENCY.format(key="CHG-7", kind="soft", freeze='CHG-51 "Launch week"',
                              until="Fri 8 Jan 2027 00:00 (Europe/London)")),
    ("exception across two softs names the last to end", Category.NORMAL, True, LONG,
     [NEW_YEAR_WEEKEND, LAUNCH], FreezeDecision.EXCEPTION, (LAUNCH, NEW_YEAR_WEEKEND), None,
     ALLOWED_EXCEPTION.format(key="CHG-7", freeze='CHG-51 "Launch week"',
                              until="Fri 8 Jan 2027 00:00 (Europe/London)", group=HOE)),
]


@pytest.mark.parametrize(
    ("category", "exception", "window", "freezes", "decision", "inside", "blocking", "text"),
    [row[1:] for row in VERDICTS], ids=[row[0] for row in VERDICTS])
def test_freeze_verdict(category, exception, window, freezes, decision, inside, blocking, text):
    verdict = freeze_verdict("CHG-7", category, exception, *window, freezes,
                             calendar=CALENDAR, exception_group=HOE)
    assert (verdict.decision, verdict.freezes, verdict.blocking, verdict.text) == (
        decision, inside, blocking, text)
    assert verdict.allowed is (decision is not FreezeDecision.BLOCKED)
    assert verdict.until == (blocking.end if blocking else None)


def test_until_is_in_the_cab_zone_in_summer():
    verdict = freeze_verdict("CHG-7", Category.NORMAL, False, utc(2026, 7, 11, 10),
                             utc(2026, 7, 11, 11), [FRIDAY], calendar=CALENDAR,
                             exception_group=HOE)
    assert verdict.until == utc(2026, 7, 13, 7)
    assert "until Mon 13 Jul 2026 08:00 (Europe/London):" in verdict.text


# A one-off freeze declared in Jira.
KIND_ID, REASON_ID = "customfield_10062", "customfield_10063"
FREEZE_SITE = SiteMap(field_ids=FIELD_IDS, status_ids=STATUS_IDS, bot_account_id="712020:bot",
                      freeze_field_ids={FreezeFieldRole.KIND: KIND_ID,
                                        FreezeFieldRole.REASON: REASON_ID})
START_ID, END_ID = FIELD_IDS[FieldRole.PLANNED_START], FIELD_IDS[FieldRole.PLANNED_END]


def issue_json(**fields):
    base = {"summary": "Black Friday", "status": {"id": "10001"},
            "issuetype": {"id": "10101", "name": "Change Freeze"},
            "reporter": {"accountId": "712020:dana"},
            START_ID: "2026-11-27T00:00:00.000+0000", END_ID: "2026-11-30T09:00:00.000+0100",
            KIND_ID: {"id": "10300", "value": "Hard"},
            REASON_ID: {"type": "doc", "version": 1, "content": [
                {"type": "paragraph", "content": [{"type": "text", "text": "Peak sales. "}]}]}}
    base.update(fields)
    return {"key": "CHG-50", "fields": base}


def test_parse_freeze_issue_reads_the_declared_fields():
    assert parse_freeze_issue(issue_json(), FREEZE_SITE) == FreezeIssue(
        key="CHG-50", summary="Black Friday", issue_type="Change Freeze", status_id="10001",
        reporter_account_id="712020:dana", start=utc(2026, 11, 27),
        end=utc(2026, 11, 30, 8), kind_value="Hard", reason="Peak sales.")


def test_parse_freeze_issue_without_an_issue_type_name():
    assert parse_freeze_issue(issue_json(issuetype={"id": "10101"}), FREEZE_SITE).issue_type is None
    assert parse_freeze_issue(issue_json(issuetype=None), FREEZE_SITE).issue_type is None


def test_parse_freeze_issue_without_freeze_fields_on_the_site():
    assert parse_freeze_issue(issue_json(), SITE) == FreezeIssue(
        key="CHG-50", summary="Black Friday", issue_type="Change Freeze", status_id="10001",
        reporter_account_id="712020:dana", start=utc(2026, 11, 27),
        end=utc(2026, 11, 30, 8), kind_value=None, reason=None)


@pytest.mark.parametrize(("issue", "message"), [
    ({"fields": {}}, "an issue needs a string 'key' and a 'fields' object"),
    ({"key": "CHG-50", "fields": {"status": "Open"}}, "CHG-50: the issue has no status id"),
], ids=["no key", "no status id"])
def test_parse_freeze_issue_rejects_malformed_issues(issue, message):
    with pytest.raises(SnapshotError) as raised:
        parse_freeze_issue(issue, FREEZE_SITE)
    assert str(raised.value) == message


def test_freeze_fields_to_fetch():
    assert freeze_fields_to_fetch(FREEZE_SITE) == (
        "summary", "status", "reporter", "issuetype", START_ID, END_ID, KIND_ID, REASON_ID)


def declared(**fields) -> Freeze | IncompleteFreeze:
    issue = parse_freeze_issue(issue_json(**fields), FREEZE_SITE)
    return freeze_from_issue(issue, POLICY.freezes, start_field="Planned Start",
                             end_field="Planned End")


FROM_ISSUE = [
    ("complete hard freeze", {},
     Freeze("Black Friday", FreezeKind.HARD, utc(2026, 11, 27), utc(2026, 11, 30, 8),
            "Peak sales.", "CHG-50")),
    ("soft, no reason: the summary is the reason", {KIND_ID: {"value": "Soft"}, REASON_ID: None},
     Freeze("Black Friday", FreezeKind.SOFT, utc(2026, 11, 27), utc(2026, 11, 30, 8),
            "Black Friday", "CHG-50")),
    ("blank reason and summary: the key names it", {REASON_ID: "  ", "summary": None},
     Freeze("CHG-50", FreezeKind.HARD, utc(2026, 11, 27), utc(2026, 11, 30, 8), "", "CHG-50")),
    ("no kind", {KIND_ID: None},
     IncompleteFreeze("CHG-50", INCOMPLETE.format(
         key="CHG-50", missing="a Freeze Kind (Hard or Soft)", them="it"))),
    ("a kind the policy does not know", {KIND_ID: {"value": "Frozen"}},
     IncompleteFreeze("CHG-50", INCOMPLETE.format(
         key="CHG-50", missing="a Freeze Kind (Hard or Soft)", them="it"))),
    ("no end", {END_ID: None},
     IncompleteFreeze("CHG-50", INCOMPLETE.format(key="CHG-50", missing="Planned End",
                                                  them="it"))),
    ("nothing", {START_ID: None, END_ID: "soon", KIND_ID: None},
     IncompleteFreeze("CHG-50", INCOMPLETE.format(
         key="CHG-50", missing="Planned Start, Planned End and a Freeze Kind (Hard or Soft)",
         them="them"))),
    ("end before start", {END_ID: "2026-11-26T00:00:00.000+0000"},
     IncompleteFreeze("CHG-50", BACKWARDS.format(key="CHG-50", start_field="Planned Start",
                                                 end_field="Planned End"))),
    ("end equal to start", {END_ID: "2026-11-27T01:00:00.000+0100"},
     IncompleteFreeze("CHG-50", BACKWARDS.format(key="CHG-50", start_field="Planned Start",
                                                 end_field="Planned End"))),
]


@pytest.mark.parametrize(("fields", "expected"), [row[1:] for row in FROM_ISSUE],
                         ids=[row[0] for row in FROM_ISSUE])
def test_freeze_from_issue(fields, expected):
    assert declared(**fields) == expected


def test_incomplete_text_reads_well():
    assert declared(**{START_ID: None, KIND_ID: None}).text == (
        "CHG-50 is not enforced as a change freeze until it has Planned Start and a Freeze Kind "
        "(Hard or Soft): fill them in and the freeze applies from then on.")


def test_a_declared_freeze_blocks_like_a_recurring_one():
    freeze = declared()
    verdict = freeze_verdict("CHG-7", Category.STANDARD, False, utc(2026, 11, 29, 10),
                             utc(2026, 11, 29, 11), [freeze], calendar=CALENDAR,
                             exception_group=HOE)
    assert verdict.text == (
        "CHG-7's planned window overlaps the hard freeze CHG-50 \"Black Friday\", which lets only "
        "Emergency changes through until Mon 30 Nov 2026 08:00 (Europe/London): move its "
        "Planned Start to that time or later.")


# The policy checks RRULE syntax without dateutil (rules/ is pure); the shell builds the rule
# with dateutil at start-up. Whatever the check accepts, dateutil must build.
RRULES = [
    ("weekly", "FREQ=WEEKLY;BYDAY=FR;BYHOUR=15;BYMINUTE=0;BYSECOND=0", None),
    ("lower case", "freq=weekly;byday=fr", None),
    ("yearly", "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=24;BYHOUR=0", None),
    ("monthly last weekday", "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1", None),
    ("ordinal weekday", "FREQ=MONTHLY;BYDAY=-1FR;INTERVAL=2;WKST=SU", None),
    ("until a date", "FREQ=DAILY;UNTIL=20271231;BYHOUR=22", None),
    ("until a local date-time", "FREQ=DAILY;UNTIL=20271231T235959", None),
    ("week numbers and year days", "FREQ=YEARLY;BYWEEKNO=1,52;BYYEARDAY=-1", None),
    ("no FREQ", "BYDAY=FR", "no FREQ"),
    ("hourly", "FREQ=HOURLY",
     "FREQ must be one of DAILY, WEEKLY, MONTHLY, YEARLY (a freeze recurs at most daily)"),
    ("nonsense FREQ", "FREQ=SOMETIMES",
     "FREQ must be one of DAILY, WEEKLY, MONTHLY, YEARLY (a freeze recurs at most daily)"),
    ("COUNT", "FREQ=WEEKLY;COUNT=3",
     "COUNT would count from the rule's anchor (1 January 2024): end it with UNTIL"),
    ("UNTIL in UTC", "FREQ=WEEKLY;UNTIL=20271231T000000Z",
     "UNTIL must be a local date or date-time in the freeze's time zone, e.g. 20271231 or "
     "20271231T235959 (no Z)"),
    ("hour 24", "FREQ=DAILY;BYHOUR=24", "BYHOUR=24 is not a valid value"),
    ("bad weekday", "FREQ=WEEKLY;BYDAY=FRI", "BYDAY=FRI is not a valid value"),
    ("month 13", "FREQ=YEARLY;BYMONTH=13", "BYMONTH=13 is not a valid value"),
    ("part twice", "FREQ=WEEKLY;FREQ=DAILY", "FREQ is given twice"),
    ("unknown part", "FREQ=WEEKLY;BYDAYS=FR",
     "'BYDAYS=FR' is not a rule part (FREQ, UNTIL, INTERVAL, BYSECOND, BYMINUTE, BYHOUR, BYDAY, "
     "BYMONTHDAY, BYYEARDAY, BYWEEKNO, BYMONTH, BYSETPOS, WKST)"),
    ("part without value", "FREQ=WEEKLY;BYDAY", "BYDAY= is not a valid value"),
    ("trailing semicolon", "FREQ=WEEKLY;", "'' is not a rule part (FREQ, UNTIL, INTERVAL, "
     "BYSECOND, BYMINUTE, BYHOUR, BYDAY, BYMONTHDAY, BYYEARDAY, BYWEEKNO, BYMONTH, BYSETPOS, "
     "WKST)"),
]


@pytest.mark.parametrize(("rrule", "problem"), [row[1:] for row in RRULES],
                         ids=[row[0] for row in RRULES])
def test_rrule_check_agrees_with_dateutil(rrule, problem):
    assert rrule_problem(rrule) == problem
    if problem is None:
        assert rrulestr(rrule, dtstart=RULE_ANCHOR).after(RULE_ANCHOR) is not None


# (The check is stricter than dateutil too: BYMONTH=13 builds a rule that never occurs.)
@pytest.mark.parametrize("rrule", ["BYDAY=FR", "FREQ=SOMETIMES", "FREQ=DAILY;BYHOUR=24",
                                   "FREQ=WEEKLY;BYDAY=FRI", "FREQ=WEEKLY;UNTIL=20271231T000000Z"])
def test_what_dateutil_refuses_the_check_refuses(rrule):
    with pytest.raises((ValueError, TypeError)):
        list(rrulestr(rrule, dtstart=RULE_ANCHOR)[:1])
    assert rrule_problem(rrule) is not None


def test_default_policy_declares_weekend_and_year_end():
    freezes = POLICY.freezes
    assert freezes.issue_type == "Change Freeze"
    assert freezes.field_names == {FreezeFieldRole.KIND: "Freeze Kind",
                                   FreezeFieldRole.REASON: "Freeze Reason"}
    assert freezes.kind_of("Soft") is FreezeKind.SOFT and freezes.kind_of("soft") is None
    assert [(f.name, f.kind, f.duration, f.timezone) for f in freezes.recurring] == [
        ("Weekend", FreezeKind.SOFT, timedelta(hours=65), "Europe/London"),
        ("Year end", FreezeKind.HARD, timedelta(days=9), "Europe/London"),
    ]


@pytest.mark.parametrize("freezes, projects, site, expected", [
    ({}, ("CHG",), SITE,
     'project in (CHG) AND issuetype = "Change Freeze" AND status not in (10008, 10007) '
     "ORDER BY key"),
    ({"issue_type": 'The "Freeze"'}, (), SiteMap(FIELD_IDS, {}, "712020:bot"),
     'issuetype = "The \\"Freeze\\"" ORDER BY key'),
    ({"issue_type": None}, ("CHG",), SITE, None),
], ids=["default", "no-projects-no-known-end-statuses", "not-read-from-jira"])
def test_declared_freezes_jql(freezes, projects, site, expected):
    policy = dataclasses.replace(POLICY, scope_project_keys=projects,
                                 freezes=dataclasses.replace(POLICY.freezes, **freezes))
    assert declared_freezes_jql(policy, site) == expected
