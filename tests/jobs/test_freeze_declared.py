"""A freeze declared, widened, cancelled or deleted in the sandbox Jira: each approval it catches
is withdrawn once, with one comment, and Slack hears once, however often the check runs."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest
from rq import Queue

from jobs.freeze_declared import recheck_freeze, withdraw_for_freeze
from jobs.freezes import declared_freezes
from rules.approvals import Approval, ApprovalRole, ApprovalState, material_values, revision_of
from rules.change_request import fields_to_fetch, parse_change_request
from rules.freeze_declaration import NOT_HEAD
from rules.issue_record import PROPERTY_KEY
from worker.jira_client import JiraNotFound
from worker.slack_client import SlackError

from sandbox.jira_seed import build_site

from ..builders import AGENDA_NORMAL, make_change

UTC = timezone.utc
START, END = datetime(2030, 3, 1, 18, tzinfo=UTC), datetime(2030, 3, 4, 8, tzinfo=UTC)
CREATED, UPDATED, DELETED = "jira:issue_created", "jira:issue_updated", "jira:issue_deleted"
DANA, ALICE = (build_site().users[name].account_id for name in ("dana", "alice"))


def window(start: str, end: str) -> dict[str, str]:
    return {"Planned Start": f"2030-03-{start}:00.000+0000",
            "Planned End": f"2030-03-{end}:00.000+0000"}


IN_IT = window("02T10:00", "02T11:00")  # Saturday, inside the freeze
AFTER_IT = window("04T09:00", "04T10:00")  # Monday, after the freeze ends at 08:00
EMERGENCY = {**AGENDA_NORMAL, "Change Category": "Emergency", "Incident Commander": "erin"}
STANDARD = {**AGENDA_NORMAL, "Change Category": "Standard",
            "Standard Template": "Feature flag toggle"}


def check(runtime, key, event=CREATED, actor=None, at=1_900_000_000_000):
    """Run the freeze check as the webhook of ``event`` by ``actor`` (default dana) would."""
    return recheck_freeze(key, f"delivery-{at}", at, event, actor or DANA, runtime=runtime)


def run_queued(runtime) -> list[tuple[str, dict]]:
    """Run every queued job as a worker would, with the test's runtime; return ids and results."""
    queue = Queue(runtime.settings.queue_name, connection=runtime.redis)
    jobs = queue.get_jobs()
    queue.empty()
    return [(job.id, job.func(**job.kwargs, runtime=runtime)) for job in jobs]


def give_exception(jira, runtime, key):
    """Record a CAB approval and dana's freeze exception on the change as it is now."""
    issue = runtime.jira.get_issue(key, fields=fields_to_fetch(runtime.site))
    change = parse_change_request(issue, runtime.site)
    state = ApprovalState(revision_of(change), material_values(change), (
        Approval(jira.users["carol"].account_id, ApprovalRole.CAB, "2030-02-01T09:00:00+00:00"),
        Approval(DANA, ApprovalRole.FREEZE_EXCEPTION, "2030-02-01T09:05:00+00:00")))
    runtime.jira.set_issue_property(key, PROPERTY_KEY, {"approvals": state.to_json(),
                                                        "audit": []})
    return state


def bot_comments(jira, key):
    return [c["text"] for c in jira.comments(key) if c["author_account_id"] == jira.bot.account_id]


def test_a_new_hard_freeze_withdraws_exactly_the_approvals_it_catches_once(jira, slack, runtime):
    caught = make_change(jira, "Resize the ledger DB", {**AGENDA_NORMAL, **IN_IT}, "Approved")
    excepted = make_change(jira, "Toggle checkout flag", {**AGENDA_NORMAL, **IN_IT}, "Approved")
    give_exception(jira, runtime, excepted)
    emergency = make_change(jira, "Hotfix payments", {**EMERGENCY, **IN_IT}, "Approved")
    later = make_change(jira, "Rotate keys", {**AGENDA_NORMAL, **AFTER_IT}, "Approved")
    waiting = make_change(jira, "Bump libs", {**AGENDA_NORMAL, **IN_IT}, "Awaiting Approval")
    freeze = jira.create_freeze("dana", "Quarter close", START, END, kind="Hard",
                                reason="Auditors are on site.")

    # Jira delivered it three times (and the edit event of the same freeze came too).
    results = [check(runtime, freeze) for _ in range(3)]
    assert results == [{"action": "enforce", "freeze": freeze, "withdrawn": [caught, excepted]},
                       {"action": "nothing", "freeze": freeze},
                       {"action": "nothing", "freeze": freeze}]
    ran = run_queued(runtime)
    ns = runtime.settings.namespace
    assert ran == [(f"{ns}-freeze-withdraw-{freeze}-1-{caught}",
                    {"outcome": "withdraw", "freeze": freeze, "reverted": True}),
                   (f"{ns}-freeze-withdraw-{freeze}-1-{excepted}",
                    {"outcome": "withdraw", "freeze": freeze, "reverted": True})]
    # A hard freeze lets only Emergency changes through: the exception does not count.
    assert [jira.status_of(k) for k in (caught, excepted, emergency, later, waiting)] == [
        "Awaiting Approval", "Awaiting Approval", "Approved", "Approved", "Awaiting Approval"]
    alice = f"@{ALICE}"
    assert bot_comments(jira, caught) == [
        "Approval withdrawn: a change freeze now covers this change's window\n\n"
        f"{alice}, {caught}'s planned window overlaps the hard freeze {freeze} \"Quarter close\", "
        "which lets only Emergency changes through until Mon 4 Mar 2030 08:00 (Europe/London): "
        "move its Planned Start to that time or later. changeguard moved it back to Awaiting Approval; "
        "the approvals it had are kept on the change.\n\n"
        "Next: moving Planned Start to that time changes what was approved, so the change then "
        "needs its approval again."]
    for key in (emergency, later, waiting):
        assert jira.comments(key) == []
    record = jira.property(excepted, PROPERTY_KEY)
    assert [a["role"] for a in record["approvals"]["approvals"]] == ["cab", "freeze_exception"]
    assert [(e["decision"], e["reason"], e["actor"], e["from"], e["to"]) for e in record["audit"]] \
        == [("approval withdrawn", "freeze", DANA, "Approved", "Awaiting Approval")]
    base = f"{jira.base_url}/browse"
    [message] = slack.messages
    assert (message.channel, message.text) == ("#deployments", (
        f":snowflake: <{base}/{freeze}|{freeze}> “Quarter close”: hard freeze declared, Fri 1 Mar "
        "2030 18:00 to Mon 4 Mar 2030 08:00 (Europe/London). Reason: Auditors are on site.\n"
        "Approval withdrawn from 2 approved changes in it, moved back to Awaiting Approval; each "
        "has a comment saying how to proceed:\n"
        f"• <{base}/{caught}|{caught}> “Resize the ledger DB”, planned Sat 2 Mar 2030 10:00 to "
        "Sat 2 Mar 2030 11:00\n"
        f"• <{base}/{excepted}|{excepted}> “Toggle checkout flag”, planned Sat 2 Mar 2030 10:00 "
        "to Sat 2 Mar 2030 11:00"))
    freeze_record = jira.property(freeze, PROPERTY_KEY)
    assert (freeze_record["freeze"]["held"], freeze_record["freeze"]["checks"],
            [(e["decision"], e["actor"]) for e in freeze_record["audit"]]) == (
        [caught, excepted], 1, [("declared", DANA)])

    # A follow-up run again (RQ retried it after it finished): nothing more.
    again = withdraw_for_freeze(caught, freeze_record["freeze"]["enforced"], 1, DANA,
                                "2030-02-01T09:00:00+00:00", runtime=runtime)
    assert again == {"outcome": "already_withdrawn", "freeze": freeze}
    assert len(jira.comments(caught)) == 1 and len(slack.messages) == 1


def test_a_soft_freeze_leaves_the_changes_with_an_exception(jira, slack, runtime):
    excepted = make_change(jira, "Toggle checkout flag", {**AGENDA_NORMAL, **IN_IT}, "Approved")
    give_exception(jira, runtime, excepted)
    standard = make_change(jira, "Flip search flag", {**STANDARD, **IN_IT}, "Approved")
    freeze = jira.create_freeze("dana", "Weekend sale", START, END, kind="Soft")
    assert check(runtime, freeze)["withdrawn"] == [standard]
    run_queued(runtime)
    assert (jira.status_of(excepted), jira.status_of(standard)) == ("Approved", "Awaiting Approval")
    [comment] = bot_comments(jira, standard)
    assert comment.endswith(
        "Next: someone in head-of-engineering gives the freeze exception by moving this change "
        "to Approved; the approvals it had still count, so it needs no other. Moving Planned "
        "Start instead changes what was approved, so the change then needs its approval again.")


def test_a_widened_freeze_withdraws_only_the_newly_caught(jira, slack, runtime):
    first = make_change(jira, "Resize the ledger DB", {**AGENDA_NORMAL, **IN_IT}, "Approved")
    monday = make_change(jira, "Rotate keys", {**AGENDA_NORMAL, **AFTER_IT}, "Approved")
    freeze = jira.create_freeze("dana", "Weekend sale", START, END, kind="Soft")
    check(runtime, freeze)
    run_queued(runtime)
    # Approved again while the freeze held it (say, before changeguard knew of the exception).
    jira.transition(first, "Approved", "dana")
    jira.edit(freeze, "dana", {"Planned End": datetime(2030, 3, 5, 8, tzinfo=UTC)})
    assert check(runtime, freeze, UPDATED, at=1_900_000_100_000) == {
        "action": "enforce", "freeze": freeze, "withdrawn": [monday]}
    assert [job_id for job_id, _ in run_queued(runtime)] == [
        f"{runtime.settings.namespace}-freeze-withdraw-{freeze}-2-{monday}"]
    assert (jira.status_of(first), jira.status_of(monday)) == ("Approved", "Awaiting Approval")
    assert len(bot_comments(jira, first)) == 1  # from the first check only
    assert [m.text.split("\n")[0].split("”: ", 1)[1] for m in slack.messages] == [
        "soft freeze declared, Fri 1 Mar 2030 18:00 to Mon 4 Mar 2030 08:00 (Europe/London). "
        "Reason: Weekend sale.",
        "soft freeze widened, Fri 1 Mar 2030 18:00 to Tue 5 Mar 2030 08:00 (Europe/London). "
        "Reason: Weekend sale."]
    # Shortened again: recorded, nothing released, nothing said.
    jira.edit(freeze, "dana", {"Planned End": END})
    assert check(runtime, freeze, UPDATED, at=1_900_000_200_000)["action"] == "narrowed"
    assert (run_queued(runtime), len(slack.messages)) == ([], 2)
    assert [e["decision"] for e in jira.property(freeze, PROPERTY_KEY)["audit"]] == [
        "declared", "widened", "narrowed"]


@pytest.mark.parametrize("how", ["cancelled", "deleted"])
def test_cancelling_names_the_changes_it_held_once_and_releases_nothing(jira, slack, runtime,
                                                                        how):
    caught = make_change(jira, "Resize the ledger DB", {**AGENDA_NORMAL, **IN_IT}, "Approved")
    freeze = jira.create_freeze("dana", "Quarter close", START, END, kind="Hard")
    check(runtime, freeze)
    run_queued(runtime)
    if how == "cancelled":
        jira.transition(freeze, "Cancelled", "dana")
        event = UPDATED
    else:
        jira.delete(freeze, "dana")
        event = DELETED
    results = [check(runtime, freeze, event, at=1_900_000_300_000) for _ in range(2)]
    assert results == [{"action": "cancel", "freeze": freeze, "held": [caught]},
                       {"action": "nothing", "freeze": freeze}]
    assert jira.status_of(caught) == "Awaiting Approval"
    base = f"{jira.base_url}/browse"
    assert slack.messages[-1].text == (
        f":sunny: <{base}/{freeze}|{freeze}> “Quarter close”: the hard freeze (Fri 1 Mar 2030 "
        f"18:00 to Mon 4 Mar 2030 08:00, Europe/London) is {how}. It had held these changes; "
        "nothing is released by itself: submit them for approval again if they should go ahead "
        "in their windows:\n"
        f"• <{base}/{caught}|{caught}>")
    assert len(slack.messages) == 2
    if how == "cancelled":
        assert [e["decision"] for e in jira.property(freeze, PROPERTY_KEY)["audit"]] == [
            "declared", "cancelled"]


def test_a_freeze_gone_before_it_was_ever_enforced_says_nothing(jira, slack, runtime):
    freeze = jira.create_freeze("alice", "Quarter close", START, END, kind="Hard")
    jira.delete(freeze, "alice")
    assert check(runtime, freeze, DELETED, actor=ALICE) == {"action": "nothing",
                                                              "freeze": freeze}
    assert slack.messages == []


def test_a_freeze_read_before_it_was_deleted_fails_to_be_retried(jira, runtime):
    with pytest.raises(JiraNotFound):
        check(runtime, "CHG-999", UPDATED)


def test_a_freeze_not_declared_by_the_head_of_engineering_is_not_enforced(jira, slack, runtime):
    caught = make_change(jira, "Resize the ledger DB", {**AGENDA_NORMAL, **IN_IT}, "Approved")
    freeze = jira.create_freeze("alice", "Quarter close", START, END, kind="Hard")
    results = [check(runtime, freeze, actor=ALICE) for _ in range(2)]
    assert results == [{"action": "not_enforced", "freeze": freeze},
                       {"action": "nothing", "freeze": freeze}]
    assert bot_comments(jira, freeze) == [NOT_HEAD.format(
        key=freeze, group="head-of-engineering", issue_type="Change Freeze")]
    assert (jira.status_of(caught), run_queued(runtime), slack.messages) == ("Approved", [], [])
    assert declared_freezes(runtime) == ()


def test_an_incomplete_freeze_is_told_once_what_it_lacks_then_enforced(jira, slack, runtime):
    caught = make_change(jira, "Resize the ledger DB", {**AGENDA_NORMAL, **IN_IT}, "Approved")
    freeze = jira.create_freeze("dana", "Quarter close", START, END, kind="Hard")
    jira.edit(freeze, "dana", {"Planned End": None})
    assert [check(runtime, freeze, at=at)["action"] for at in (1, 2)] == [
        "not_enforced", "nothing"]
    assert bot_comments(jira, freeze) == [
        f"{freeze} is not enforced as a change freeze until it has Planned End: fill it in and "
        "the freeze applies from then on."]
    assert declared_freezes(runtime) == ()  # the cached list is read again after each check
    jira.edit(freeze, "dana", {"Planned End": END})
    assert check(runtime, freeze, UPDATED, at=3)["withdrawn"] == [caught]
    assert [f.source for f in declared_freezes(runtime)] == [freeze]


def test_a_check_that_failed_halfway_resumes_without_repeating(jira, slack, runtime):
    caught = make_change(jira, "Resize the ledger DB", {**AGENDA_NORMAL, **IN_IT}, "Approved")
    freeze = jira.create_freeze("dana", "Quarter close", START, END, kind="Hard")
    slack.inject_fault("chat.postMessage", 400, error="channel_not_found")
    with pytest.raises(SlackError):  # RQ retries the job
        check(runtime, freeze)
    # Another event of the freeze arrives first: it finishes the plan, then finds nothing new.
    assert check(runtime, freeze, UPDATED, at=1_900_000_400_000) == {
        "action": "nothing", "freeze": freeze}
    assert check(runtime, freeze) == {"action": "nothing", "freeze": freeze}
    assert [job_id.rsplit("-", 2)[-2:] for job_id, _ in run_queued(runtime)] == [
        caught.split("-")]
    assert len(slack.messages) == 1 and len(bot_comments(jira, caught)) == 1


def test_two_events_of_one_freeze_checked_at_once_act_once(jira, slack, make_runtime):
    caught = make_change(jira, "Resize the ledger DB", {**AGENDA_NORMAL, **IN_IT}, "Approved")
    freeze = jira.create_freeze("dana", "Quarter close", START, END, kind="Hard")
    runtimes = [make_runtime() for _ in range(2)]  # two workers
    results: list[dict] = []
    threads = [threading.Thread(target=lambda rt=rt, at=at: results.append(check(rt, freeze, at=at)))
               for rt, at in zip(runtimes, (1_900_000_500_000, 1_900_000_600_000))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r["action"] for r in results) == ["enforce", "nothing"]
    assert [job_id.rsplit("-", 2)[-2:] for job_id, _ in run_queued(runtimes[0])] == [
        caught.split("-")]
    assert len(slack.messages) == 1
