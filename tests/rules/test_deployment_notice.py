"""The deployment notices: when each is posted, what it says, and the record that threads them."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from rules.deployment_notice import (NoticeAction, NoticeRecord, OutcomeAction, PostedMessage,
                                     SlackText, decide_notice, decide_outcome_update,
                                     finished_message, format_window, mover_account_id,
                                     mover_name, outcome_label,
                                     parse_notice_record, starting_message)
from rules.deployment import DeploymentEntry, DeployState
from rules.policy import FieldRole, StatusRole
from worker.policy_file import load_policy

from .builders import SITE, STATUS_IDS, change

POLICY = load_policy()
LONDON = ZoneInfo("Europe/London")
URL = "https://acme.atlassian.net/browse/CHG-7"
START = PostedMessage("C01", "1700000000.000100", 40)
FINISHED = PostedMessage("C01", "1700000000.000200", 45, by="Bob Brown", threaded=True)


def deployed(status=StatusRole.IMPLEMENTING, *, risk="Medium", outcome=None, summary=None,
             **kwargs):
    """Return CHG-7 in ``status`` with a risk level and, maybe, an outcome."""
    cr = change(status=status, outcome=outcome, **kwargs)
    options = {**cr.options, FieldRole.RISK_LEVEL: risk}
    return dataclasses.replace(cr, options=options, summary=summary or cr.summary)


# -- the stored record ---------------------------------------------------------------------

RECORDS = [
    (None, NoticeRecord()),
    ("not an object", NoticeRecord()),
    ({}, NoticeRecord()),
    ({"channel": "C01", "ts": "1700000000.000100", "changelog": 40}, NoticeRecord(START)),
    ({"channel": "C01", "ts": "1700000000.000100"}, NoticeRecord()),
    ({"channel": "C01", "ts": "1700000000.000100", "changelog": 40, "finished": "junk"},
     NoticeRecord(START)),
    ({"channel": "C01", "ts": "1700000000.000100", "changelog": 40,
      "finished": {"channel": "C01", "ts": "1700000000.000200", "changelog": 45,
                   "by": "Bob Brown", "threaded": True, "outcome": None}},
     NoticeRecord(START, FINISHED)),
    ({"finished": {"channel": "C01", "ts": "1700000000.000200", "changelog": 45, "by": 7,
                   "threaded": False, "outcome": "Failed"}},
     NoticeRecord(None, PostedMessage("C01", "1700000000.000200", 45, None, False, "Failed"))),
    ({"finished": {"channel": "C01", "ts": "1700000000.000200", "changelog": 45,
                   "outcome": ["Failed"]}},
     NoticeRecord(None, PostedMessage("C01", "1700000000.000200", 45))),
]


@pytest.mark.parametrize("value, expected", RECORDS, ids=[
    "absent", "not-an-object", "empty", "starting-only", "starting-without-changelog",
    "finished-unreadable", "starting-and-finished", "finished-unthreaded", "outcome-not-text"])
def test_parse_notice_record(value, expected):
    assert parse_notice_record(value) == expected


def test_record_is_stored_with_the_starting_message_on_top_and_the_reply_nested():
    record = NoticeRecord(START, dataclasses.replace(FINISHED, outcome="Successful"))
    assert record.to_json() == {
        "channel": "C01", "ts": "1700000000.000100", "changelog": 40,
        "finished": {"channel": "C01", "ts": "1700000000.000200", "changelog": 45,
                     "by": "Bob Brown", "threaded": True, "outcome": "Successful"},
    }
    assert parse_notice_record(record.to_json()) == record
    assert NoticeRecord(None, FINISHED).to_json() == {"finished": FINISHED.to_json()}
    assert NoticeRecord(START).to_json() == {"channel": "C01", "ts": "1700000000.000100",
                                             "changelog": 40}


# -- when to post ----------------------------------------------------------------------------

IMPLEMENTING, IMPLEMENTED = STATUS_IDS[StatusRole.IMPLEMENTING], STATUS_IDS[StatusRole.IMPLEMENTED]
DECISIONS = [
    (StatusRole.IMPLEMENTING, IMPLEMENTING, 50, NoticeRecord(), NoticeAction.POST_STARTING),
    (StatusRole.IMPLEMENTED, IMPLEMENTED, 50, NoticeRecord(START), NoticeAction.POST_FINISHED),
    (StatusRole.IMPLEMENTED, IMPLEMENTED, 50, NoticeRecord(), NoticeAction.POST_FINISHED),
    (StatusRole.IMPLEMENTING, IMPLEMENTING, 50, NoticeRecord(START, FINISHED),
     NoticeAction.POST_STARTING),
    (StatusRole.APPROVED, STATUS_IDS[StatusRole.APPROVED], 50, NoticeRecord(),
     NoticeAction.NOT_ANNOUNCED),
    (StatusRole.APPROVED, IMPLEMENTING, 50, NoticeRecord(), NoticeAction.SUPERSEDED),
    (StatusRole.IMPLEMENTED, IMPLEMENTING, 40, NoticeRecord(START), NoticeAction.SUPERSEDED),
    (StatusRole.IMPLEMENTING, IMPLEMENTING, 40, NoticeRecord(START), NoticeAction.ALREADY_POSTED),
    (StatusRole.IMPLEMENTED, IMPLEMENTED, 45, NoticeRecord(START, FINISHED),
     NoticeAction.ALREADY_POSTED),
    (StatusRole.IMPLEMENTING, IMPLEMENTING, 30, NoticeRecord(START), NoticeAction.STALE),
    (StatusRole.IMPLEMENTED, IMPLEMENTED, 42, NoticeRecord(START, FINISHED), NoticeAction.STALE),
]


@pytest.mark.parametrize("status, to_status_id, changelog_id, record, expected", DECISIONS, ids=[
    "enters-implementing", "enters-implemented", "implemented-without-start",
    "a-new-deployment-after-the-last", "approved-has-no-notice", "implementing-was-undone",
    "implemented-was-undone", "duplicate-start", "duplicate-finish", "older-start",
    "older-finish"])
def test_decide_notice(status, to_status_id, changelog_id, record, expected):
    assert decide_notice(change(status=status), SITE, to_status_id, changelog_id,
                         record) is expected


OUTCOME_DECISIONS = [
    (StatusRole.IMPLEMENTED, "Successful", NoticeRecord(START, FINISHED), OutcomeAction.UPDATE),
    (StatusRole.CLOSED, "Rolled Back", NoticeRecord(None, FINISHED), OutcomeAction.UPDATE),
    (StatusRole.IMPLEMENTED, "Failed",
     NoticeRecord(START, dataclasses.replace(FINISHED, outcome="Successful")),
     OutcomeAction.UPDATE),
    (StatusRole.IMPLEMENTING, "Successful", NoticeRecord(START), OutcomeAction.NOT_FINISHED),
    (StatusRole.IMPLEMENTED, "Successful", NoticeRecord(START), OutcomeAction.NO_MESSAGE),
    (StatusRole.IMPLEMENTED, None, NoticeRecord(START, FINISHED), OutcomeAction.NO_OUTCOME),
    (StatusRole.CLOSED, "Successful",
     NoticeRecord(START, dataclasses.replace(FINISHED, outcome="Successful")),
     OutcomeAction.ALREADY_SHOWN),
]


@pytest.mark.parametrize("status, outcome, record, expected", OUTCOME_DECISIONS, ids=[
    "implemented", "closed-unthreaded", "outcome-changed", "still-implementing",
    "no-finished-message", "no-outcome", "already-shown"])
def test_decide_outcome_update(status, outcome, record, expected):
    assert decide_outcome_update(change(status=status, outcome=outcome), SITE,
                                 record) is expected


# -- who moved it ----------------------------------------------------------------------------

def history(history_id, author):
    return {"id": history_id, "author": author, "items": []}


MOVERS = [
    ({"changelog": {"histories": [history("44", {"displayName": "Alice Adams"}),
                                  history("45", {"displayName": "Bob Brown"})]}}, "Bob Brown"),
    ({"changelog": {"histories": ["junk", history(45, {"displayName": "Bob Brown"})]}},
     "Bob Brown"),
    ({"changelog": {"histories": [history("44", {"displayName": "Alice Adams"})]}}, None),
    ({"changelog": {"histories": [history("45", None)]}}, None),
    ({"changelog": {"histories": [history("45", {"displayName": "  "})]}}, None),
    ({"changelog": {"histories": "junk"}}, None),
    ({"changelog": "junk"}, None),
    ({}, None),
]


@pytest.mark.parametrize("issue, expected", MOVERS, ids=[
    "found", "numeric-id-and-junk", "not-in-the-page", "no-author", "blank-name",
    "histories-not-a-list", "changelog-not-an-object", "no-changelog"])
def test_mover_name(issue, expected):
    assert mover_name(issue, 45) == expected


# -- what the messages say -------------------------------------------------------------------

UTC = timezone.utc
WINDOWS = [
    (datetime(2026, 12, 1, 10, tzinfo=UTC), datetime(2026, 12, 1, 11, tzinfo=UTC),
     "Tue 1 Dec 10:00–11:00 Europe/London"),
    (datetime(2026, 7, 7, 9, 30, tzinfo=UTC), datetime(2026, 7, 7, 10, tzinfo=UTC),
     "Tue 7 Jul 10:30–11:00 Europe/London"),
    (datetime(2026, 12, 4, 22, tzinfo=UTC), datetime(2026, 12, 5, 1, 15, tzinfo=UTC),
     "Fri 4 Dec 22:00 – Sat 5 Dec 01:15 Europe/London"),
    (datetime(2026, 12, 1, 10, tzinfo=timezone(timedelta(hours=-5))),
     datetime(2026, 12, 1, 11, tzinfo=timezone(timedelta(hours=-5))),
     "Tue 1 Dec 15:00–16:00 Europe/London"),
    (None, datetime(2026, 12, 1, 11, tzinfo=UTC), "not set"),
    (datetime(2026, 12, 1, 10, tzinfo=UTC), None, "not set"),
]


@pytest.mark.parametrize("start, end, expected", WINDOWS, ids=[
    "winter", "summer-time", "overnight", "other-offset", "no-start", "no-end"])
def test_format_window(start, end, expected):
    assert format_window(start, end, LONDON, "Europe/London") == expected


def test_starting_message():
    message = starting_message(deployed(), POLICY, URL, "Alice Adams", LONDON)
    assert message == SlackText(
        text=(":rocket: Deploying CHG-7 — Raise checkout DB pool\n"
              "Change Category: Normal\n"
              "Risk Level: Medium\n"
              "Implementer: Alice Adams\n"
              "Window: Tue 1 Dec 10:00–11:00 Europe/London\n"
              "https://acme.atlassian.net/browse/CHG-7"),
        blocks=(
            {"type": "header", "text": {
                "type": "plain_text", "emoji": True,
                "text": ":rocket: Deploying CHG-7 — Raise checkout DB pool"}},
            {"type": "section", "text": {
                "type": "mrkdwn",
                "text": "<https://acme.atlassian.net/browse/CHG-7|CHG-7> Raise checkout DB pool"}},
            {"type": "section", "fields": [
                {"type": "mrkdwn", "text": "*Change Category*\nNormal"},
                {"type": "mrkdwn", "text": "*Risk Level*\nMedium"},
                {"type": "mrkdwn", "text": "*Implementer*\nAlice Adams"},
                {"type": "mrkdwn", "text": "*Window*\nTue 1 Dec 10:00–11:00 Europe/London"},
            ]},
        ),
    )


def test_starting_message_with_gaps_and_markup_in_the_summary():
    summary = "Swap <old> & <new> pools " + "x" * 150
    message = starting_message(deployed(category=None, risk=None, start=None, summary=summary),
                               POLICY, URL, None, LONDON)
    escaped = "Swap &lt;old&gt; &amp; &lt;new&gt; pools " + "x" * 150
    header = ":rocket: Deploying CHG-7 — " + summary
    assert message.text == (f":rocket: Deploying CHG-7 — {escaped}\n"
                            "Change Category: not set\nRisk Level: not set\n"
                            "Implementer: someone\nWindow: not set\n" + URL)
    assert message.blocks[0]["text"]["text"] == header[:149] + "…"
    assert len(message.blocks[0]["text"]["text"]) == 150
    assert message.blocks[1]["text"]["text"] == f"<{URL}|CHG-7> {escaped}"
    assert [f["text"] for f in message.blocks[2]["fields"]] == [
        "*Change Category*\nnot set", "*Risk Level*\nnot set", "*Implementer*\nsomeone",
        "*Window*\nnot set"]


def reply_blocks(section, *notes):
    """Return the blocks of the "implemented" reply: one linked line, then context notes."""
    return ({"type": "section", "text": {"type": "mrkdwn", "text": section}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": n} for n in notes]})


LINKED = f":white_check_mark: <{URL}|CHG-7> implemented by Bob Brown"
FINISHED_TEXTS = [
    (None, True, SlackText(
        text=(":white_check_mark: CHG-7 implemented by Bob Brown\n"
              "Outcome: not recorded yet\n" + URL),
        blocks=reply_blocks(LINKED, "Outcome: not recorded yet"))),
    ("Rolled Back", True, SlackText(
        text=(":white_check_mark: CHG-7 implemented by Bob Brown\n"
              "Outcome: :leftwards_arrow_with_hook: Rolled Back\n" + URL),
        blocks=reply_blocks(LINKED, "Outcome: :leftwards_arrow_with_hook: Rolled Back"))),
    (None, False, SlackText(
        text=(":white_check_mark: CHG-7 implemented by Bob Brown — Raise checkout DB pool\n"
              "Outcome: not recorded yet\n"
              "No “Deploying” message was found for this change, so this one is not in a "
              "thread.\n" + URL),
        blocks=reply_blocks(LINKED + " — Raise checkout DB pool", "Outcome: not recorded yet",
                            "No “Deploying” message was found for this change, so this one "
                            "is not in a thread."))),
]


@pytest.mark.parametrize("outcome, threaded, expected", FINISHED_TEXTS,
                         ids=["threaded", "threaded-with-outcome", "unthreaded"])
def test_finished_message(outcome, threaded, expected):
    cr = deployed(StatusRole.IMPLEMENTED, outcome=outcome)
    assert finished_message(cr, URL, "Bob Brown", outcome, threaded) == expected


def test_finished_message_by_someone_unknown_escapes_the_name():
    assert finished_message(deployed(), URL, None, None, True).text.splitlines()[0] == (
        ":white_check_mark: CHG-7 implemented by someone")
    assert finished_message(deployed(), URL, "R&D <ops>", None, True).blocks[0]["text"][
        "text"] == f":white_check_mark: <{URL}|CHG-7> implemented by R&amp;D &lt;ops&gt;"


@pytest.mark.parametrize("outcome, expected", [
    (None, "not recorded yet"),
    ("Successful", ":white_check_mark: Successful"),
    ("Failed", ":x: Failed"),
    ("Rolled Back", ":leftwards_arrow_with_hook: Rolled Back"),
    ("Partially", ":grey_question: Partially"),
], ids=["unknown", "successful", "failed", "rolled-back", "not-in-the-default-policy"])
def test_outcome_label(outcome, expected):
    assert outcome_label(outcome) == expected


# -- the starting message of a deployment the gate let through -------------------------------

RUN = "https://github.com/acme/shop/actions/runs/42?a=1&b=<2>"
GATED = DeploymentEntry(
    deployment_id="github:acme/shop:run:42:prod-eu", run_id="github:acme/shop:run:42",
    vendor="github", environment="prod-eu", state=DeployState.ALLOWED, reason="allowed",
    at="2026-12-01T10:05:00+00:00", sha="0123456789abcdef0123456789abcdef01234567",
    run_url=RUN, triggered_by="octocat")
HEADER = ":rocket: Deploying CHG-7 — Raise checkout DB pool"
WINDOW = "Tue 1 Dec 10:00–11:00 Europe/London"

# id, the deployment, who moved the change, the (name, value) details shown after Risk Level
GATED_DETAILS = [
    ("the-pipeline-actor-implements-it", GATED, "Alice Adams",
     [("Implementer", "octocat"), ("Window", WINDOW), ("Environment", "prod-eu"),
      ("Commit", "0123456789ab"), ("Run", RUN)]),
    ("no-actor-the-mover-implements-it", dataclasses.replace(GATED, triggered_by=""),
     "Alice Adams",
     [("Implementer", "Alice Adams"), ("Window", WINDOW), ("Environment", "prod-eu"),
      ("Commit", "0123456789ab"), ("Run", RUN)]),
    ("nobody-known-no-commit-no-run",
     dataclasses.replace(GATED, triggered_by="", sha="", run_url=""), None,
     [("Implementer", "someone"), ("Window", WINDOW), ("Environment", "prod-eu"),
      ("Commit", "not set"), ("Run", "not set")]),
]


def escaped(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@pytest.mark.parametrize("deployment, mover, details", [g[1:] for g in GATED_DETAILS],
                         ids=[g[0] for g in GATED_DETAILS])
def test_starting_message_of_a_gated_deployment(deployment, mover, details):
    message = starting_message(deployed(), POLICY, URL, mover, LONDON, deployment)
    shown = [("Change Category", "Normal"), ("Risk Level", "Medium"), *details]
    assert message == SlackText(
        text=escaped("\n".join([HEADER, *(f"{name}: {value}" for name, value in shown), URL])),
        blocks=(
            {"type": "header", "text": {"type": "plain_text", "emoji": True, "text": HEADER}},
            {"type": "section", "text": {
                "type": "mrkdwn", "text": f"<{URL}|CHG-7> Raise checkout DB pool"}},
            {"type": "section", "fields": [
                {"type": "mrkdwn", "text": f"*{name}*\n{escaped(value)}"}
                for name, value in shown]},
        ),
    )


def test_starting_message_of_a_gated_deployment_in_full():
    message = starting_message(deployed(), POLICY, URL, "Alice Adams", LONDON, GATED)
    assert message.text == (
        ":rocket: Deploying CHG-7 — Raise checkout DB pool\n"
        "Change Category: Normal\n"
        "Risk Level: Medium\n"
        "Implementer: octocat\n"
        "Window: Tue 1 Dec 10:00–11:00 Europe/London\n"
        "Environment: prod-eu\n"
        "Commit: 0123456789ab\n"
        "Run: https://github.com/acme/shop/actions/runs/42?a=1&amp;b=&lt;2&gt;\n"
        "https://acme.atlassian.net/browse/CHG-7")
    assert message.blocks[2]["fields"][4:] == [
        {"type": "mrkdwn", "text": "*Environment*\nprod-eu"},
        {"type": "mrkdwn", "text": "*Commit*\n0123456789ab"},
        {"type": "mrkdwn",
         "text": "*Run*\nhttps://github.com/acme/shop/actions/runs/42?a=1&amp;b=&lt;2&gt;"}]


ACCOUNTS = [
    ({"changelog": {"histories": [history("45", {"accountId": "712020:bot",
                                                 "displayName": "changeguard"})]}},
     "712020:bot"),
    ({"changelog": {"histories": [history("45", {"displayName": "Bob Brown"})]}}, None),
    ({"changelog": {"histories": [history("45", {"accountId": 7})]}}, None),
    ({}, None),
]


@pytest.mark.parametrize("issue, expected", ACCOUNTS,
                         ids=["found", "no-account-id", "not-a-string", "no-changelog"])
def test_mover_account_id(issue, expected):
    assert mover_account_id(issue, 45) == expected
