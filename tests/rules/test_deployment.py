"""Deployments at the gate: their JSON forms, the record on the change, and how it reads."""

from __future__ import annotations

import dataclasses
import json

import pytest

from rules.deployment import (MAX_DEPLOYMENTS, PROPERTY_BUDGET, DeployFinish, DeploymentEntry, DeploymentsRecord,
                              DeployRequest, DeployResult, DeployState, Vendor, deployment_lines,
                              outcome_for, parse_deployments, remote_link)

SHA = "0123456789abcdef0123456789abcdef01234567"
RUN_URL = "https://github.com/acme/shop/actions/runs/42"
REQUEST = DeployRequest(
    vendor=Vendor.GITHUB, deployment_id="github:acme/shop:run:42:production",
    environment="production", run_id="github:acme/shop:run:42", explicit_key="CHG-7",
    texts=("CHG-7: raise the pool", "feature/CHG-7-pool"), sha=SHA, ref="refs/heads/main",
    run_url=RUN_URL, triggered_by="alice", triggered_by_email="alice@example.com",
    reply=(("installation_id", "9"), ("owner", "acme"), ("repo", "shop"), ("run_id", "42")),
    template="Copy update", requested_at="2026-12-01T10:30:00+00:00")
REQUEST_JSON = {
    "vendor": "github", "deployment_id": "github:acme/shop:run:42:production",
    "environment": "production", "run_id": "github:acme/shop:run:42", "explicit_key": "CHG-7",
    "texts": ["CHG-7: raise the pool", "feature/CHG-7-pool"], "sha": SHA,
    "ref": "refs/heads/main", "run_url": RUN_URL, "triggered_by": "alice",
    "triggered_by_email": "alice@example.com",
    "reply": {"installation_id": "9", "owner": "acme", "repo": "shop", "run_id": "42"},
    "template": "Copy update", "requested_at": "2026-12-01T10:30:00+00:00"}
BARE_REQUEST = DeployRequest(Vendor.GENERIC, "generic:jenkins:7", "staging")
BARE_REQUEST_JSON = {
    "vendor": "generic", "deployment_id": "generic:jenkins:7", "environment": "staging",
    "run_id": "", "explicit_key": None, "texts": [], "sha": "", "ref": "", "run_url": "",
    "triggered_by": "", "triggered_by_email": None, "reply": {}, "template": None,
    "requested_at": ""}


# -- the deployment request ------------------------------------------------------------------

@pytest.mark.parametrize("request_, expected", [(REQUEST, REQUEST_JSON),
                                                (BARE_REQUEST, BARE_REQUEST_JSON)],
                         ids=["every-field", "defaults"])
def test_request_to_json(request_, expected):
    value = request_.to_json()
    assert value == expected
    assert json.loads(json.dumps(value)) == value  # what RQ and Redis keep
    assert DeployRequest.from_json(value) == request_


# id, JSON form, the request it reads as
READ_REQUESTS = [
    ("fields-of-another-version-ignored", {**BARE_REQUEST_JSON, "colour": "blue"}, BARE_REQUEST),
    ("only-the-required-fields",
     {"vendor": "generic", "deployment_id": "generic:jenkins:7", "environment": "staging"},
     BARE_REQUEST),
    ("null-texts-and-reply", {**BARE_REQUEST_JSON, "texts": None, "reply": None}, BARE_REQUEST),
    ("reply-sorted-and-values-as-strings",
     {**BARE_REQUEST_JSON, "vendor": "gitlab", "reply": {"project_id": 7, "deployment_id": 15},
      "texts": ["Bump pool", 42]},
     dataclasses.replace(BARE_REQUEST, vendor=Vendor.GITLAB, texts=("Bump pool", "42"),
                         reply=(("deployment_id", "15"), ("project_id", "7")))),
]


@pytest.mark.parametrize("value, expected", [r[1:] for r in READ_REQUESTS],
                         ids=[r[0] for r in READ_REQUESTS])
def test_request_from_json(value, expected):
    assert DeployRequest.from_json(value) == expected


# id, JSON form, the error it raises
BAD_REQUESTS = [
    ("no-vendor", {"deployment_id": "x", "environment": "production"}, KeyError),
    ("unknown-vendor", {**BARE_REQUEST_JSON, "vendor": "jenkins"}, ValueError),
    ("no-environment", {"vendor": "github", "deployment_id": "x"}, TypeError),
    ("reply-not-an-object", {**BARE_REQUEST_JSON, "reply": ["installation_id"]}, ValueError),
]


@pytest.mark.parametrize("value, error", [r[1:] for r in BAD_REQUESTS],
                         ids=[r[0] for r in BAD_REQUESTS])
def test_request_from_bad_json_raises(value, error):
    with pytest.raises(error):
        DeployRequest.from_json(value)


@pytest.mark.parametrize("more, expected", [
    ((), ("CHG-7: raise the pool", "feature/CHG-7-pool")),
    (("Raise pool\n\nRefs CHG-7.",), ("CHG-7: raise the pool", "feature/CHG-7-pool",
                                      "Raise pool\n\nRefs CHG-7.")),
    (("", "main", ""), ("CHG-7: raise the pool", "feature/CHG-7-pool", "main")),
], ids=["nothing-more", "the-commit-message-last", "empty-texts-left-out"])
def test_with_texts(more, expected):
    assert REQUEST.with_texts(*more) == dataclasses.replace(REQUEST, texts=expected)


@pytest.mark.parametrize("name, expected", [("installation_id", "9"), ("run_id", "42")],
                         ids=["installation", "run"])
def test_reply_value(name, expected):
    assert REQUEST.reply_value(name) == expected


def test_a_reply_value_the_front_end_did_not_give_raises():
    with pytest.raises(KeyError):
        BARE_REQUEST.reply_value("answer_key")


# -- how a run ended -------------------------------------------------------------------------

FINISH = DeployFinish(Vendor.GITLAB, "gitlab:7:deployment:15", DeployResult.ROLLED_BACK,
                      is_last=False, run_url="https://gitlab.example.com/acme/shop/-/jobs/9",
                      explicit_key="CHG-7", finished_at="2026-12-01T10:45:00+00:00")
FINISH_JSON = {"vendor": "gitlab", "run_id": "gitlab:7:deployment:15", "result": "rolled_back",
               "is_last": False, "run_url": "https://gitlab.example.com/acme/shop/-/jobs/9",
               "explicit_key": "CHG-7", "finished_at": "2026-12-01T10:45:00+00:00",
               "environment": ""}
BARE_FINISH = DeployFinish(Vendor.GITHUB, "github:acme/shop:run:42", DeployResult.SUCCESS)
BARE_FINISH_JSON = {"vendor": "github", "run_id": "github:acme/shop:run:42", "result": "success",
                    "is_last": True, "run_url": "", "explicit_key": None, "finished_at": "",
                    "environment": ""}


@pytest.mark.parametrize("finish, expected", [(FINISH, FINISH_JSON),
                                              (BARE_FINISH, BARE_FINISH_JSON)],
                         ids=["every-field", "defaults"])
def test_finish_to_json_and_back(finish, expected):
    value = finish.to_json()
    assert value == expected
    assert json.loads(json.dumps(value)) == value
    assert DeployFinish.from_json(value) == finish


def test_finish_from_json_ignores_fields_of_another_version():
    value = {"vendor": "github", "run_id": "github:acme/shop:run:42", "result": "success",
             "colour": "blue"}
    assert DeployFinish.from_json(value) == BARE_FINISH


@pytest.mark.parametrize("value, error", [
    ({**BARE_FINISH_JSON, "result": "cancelled"}, ValueError),
    ({**BARE_FINISH_JSON, "vendor": "jenkins"}, ValueError),
    ({"vendor": "github", "run_id": "github:acme/shop:run:42"}, KeyError),
], ids=["unknown-result", "unknown-vendor", "no-result"])
def test_finish_from_bad_json_raises(value, error):
    with pytest.raises(error):
        DeployFinish.from_json(value)


OUTCOMES = ("Successful", "Failed", "Rolled Back")


@pytest.mark.parametrize("result, outcomes, expected", [
    (DeployResult.SUCCESS, OUTCOMES, "Successful"),
    (DeployResult.FAILURE, OUTCOMES, "Failed"),
    (DeployResult.ROLLED_BACK, OUTCOMES, "Rolled Back"),
    (DeployResult.SUCCESS, ("Successful", "Failed"), "Successful"),
    (DeployResult.FAILURE, ("Successful", "Failed"), "Failed"),
    (DeployResult.ROLLED_BACK, ("Successful", "Failed"), "Failed"),
    (DeployResult.ROLLED_BACK, ("Done",), "Done"),
], ids=["success", "failure", "rollback", "two-options-success", "two-options-failure",
        "two-options-rollback-is-a-failure", "one-option-for-everything"])
def test_outcome_for(result, outcomes, expected):
    assert outcome_for(result, outcomes) == expected


# -- the record on the change ----------------------------------------------------------------

def entry(n: int, state: DeployState = DeployState.ALLOWED, run: str | None = None,
          **more) -> DeploymentEntry:
    """Return deployment ``n`` (of run ``run``, by default its own) in ``state``."""
    return DeploymentEntry(
        deployment_id=f"github:acme/shop:run:{n}:production",
        run_id=run or f"github:acme/shop:run:{n}", vendor="github", environment="production",
        state=state, reason=f"reason {n}", at=f"2026-12-01T10:{n:02d}:00+00:00", **more)


FULL_ENTRY = entry(4, DeployState.SUCCEEDED, sha=SHA, ref="refs/heads/main", run_url=RUN_URL,
                   triggered_by="alice", approvals=("CAB: Carol Chen", "Team Lead: Tom Tran"))
FULL_ENTRY_JSON = {
    "deployment_id": "github:acme/shop:run:4:production", "run_id": "github:acme/shop:run:4",
    "vendor": "github", "environment": "production", "state": "succeeded",
    "reason": "reason 4", "at": "2026-12-01T10:04:00+00:00", "sha": SHA,
    "ref": "refs/heads/main", "run_url": RUN_URL, "triggered_by": "alice",
    "approvals": ["CAB: Carol Chen", "Team Lead: Tom Tran"]}


def test_entry_to_json():
    value = FULL_ENTRY.to_json()
    assert value == FULL_ENTRY_JSON
    assert json.loads(json.dumps(value)) == value


def test_entry_to_json_keeps_the_first_300_characters_of_the_reason():
    long = dataclasses.replace(entry(1), reason="x" * 299 + "yz")
    assert long.to_json()["reason"] == "x" * 299 + "y"


# Run 1 carries deployments 1 and 2 (two regions); 3 is its own run.
W1, A2, D3 = (entry(1, DeployState.WAITING, "run-1"), entry(2, DeployState.ALLOWED, "run-1"),
              entry(3, DeployState.DENIED))
A4, S5 = entry(4, DeployState.ALLOWED), entry(5, DeployState.SUCCEEDED)
RECORD = DeploymentsRecord((W1, A2, D3))


@pytest.mark.parametrize("deployment_id, expected", [
    ("github:acme/shop:run:2:production", A2),
    ("github:acme/shop:run:9:production", None),
], ids=["answered-before", "never-asked"])
def test_record_entry(deployment_id, expected):
    assert RECORD.entry(deployment_id) == expected


@pytest.mark.parametrize("run_id, expected", [
    ("run-1", (W1, A2)),
    ("github:acme/shop:run:3", (D3,)),
    ("github:acme/shop:run:9", ()),
], ids=["two-deployments-in-order", "one", "none"])
def test_record_of_run(run_id, expected):
    assert RECORD.of_run(run_id) == expected


@pytest.mark.parametrize("entries, expected", [
    ((), None),
    ((W1, D3, S5), None),
    ((W1, A2, D3), A2),
    ((A2, D3, A4, S5), A4),
], ids=["no-deployments", "none-allowed", "the-allowed-one", "the-latest-allowed"])
def test_record_in_progress(entries, expected):
    assert DeploymentsRecord(entries).in_progress() == expected


@pytest.mark.parametrize("entries, new, expected", [
    ((), W1, (W1,)),
    ((W1, A2), D3, (W1, A2, D3)),
    ((W1, A2, D3), dataclasses.replace(W1, state=DeployState.ALLOWED),
     (A2, D3, dataclasses.replace(W1, state=DeployState.ALLOWED))),
    ((W1, A2, D3), dataclasses.replace(D3, reason="again"),
     (W1, A2, dataclasses.replace(D3, reason="again"))),
], ids=["first", "added-last", "replaced-and-moved-last", "the-last-replaced-in-place"])
def test_record_with_entry(entries, new, expected):
    assert DeploymentsRecord(entries).with_entry(new) == DeploymentsRecord(expected)


@pytest.mark.parametrize("count, kept", [
    (MAX_DEPLOYMENTS - 1, range(1, MAX_DEPLOYMENTS + 1)),
    (MAX_DEPLOYMENTS, range(2, MAX_DEPLOYMENTS + 2)),
], ids=["one-below-the-cap-all-kept", "at-the-cap-the-oldest-dropped"])
def test_record_keeps_the_newest_deployments(count, kept):
    record = DeploymentsRecord(tuple(entry(n) for n in range(1, count + 1)))
    record = record.with_entry(entry(count + 1))
    assert record == DeploymentsRecord(tuple(entry(n) for n in kept))
    assert len(record.entries) <= MAX_DEPLOYMENTS


def test_record_drops_the_oldest_deployments_to_stay_within_jiras_limit():
    long = [dataclasses.replace(entry(n), run_url="https://ci.example.com/" + "x" * 2000)
            for n in range(1, 21)]
    record = DeploymentsRecord(tuple(long[:-1])).with_entry(long[-1])
    size = len(json.dumps(record.to_json(), separators=(",", ":")))
    assert (record.entries[-1], size <= PROPERTY_BUDGET, len(record.entries)) == (
        long[-1], True, 13)


def test_record_keeps_the_newest_deployment_even_alone_over_the_limit():
    huge = dataclasses.replace(entry(2), run_url="https://ci.example.com/" + "x" * 40_000)
    assert DeploymentsRecord((entry(1),)).with_entry(huge) == DeploymentsRecord((huge,))


def test_record_to_json_and_back():
    record = DeploymentsRecord((W1, FULL_ENTRY))
    assert record.to_json() == {"deployments": [W1.to_json(), FULL_ENTRY_JSON]}
    assert parse_deployments(json.loads(json.dumps(record.to_json()))) == record


# id, property value, the record it reads as
PROPERTIES = [
    ("missing", None, DeploymentsRecord()),
    ("not-an-object", ["deployments"], DeploymentsRecord()),
    ("no-deployments", {}, DeploymentsRecord()),
    ("deployments-not-a-list", {"deployments": {"0": W1.to_json()}}, DeploymentsRecord()),
    ("empty", {"deployments": []}, DeploymentsRecord()),
    ("approvals-absent-or-null",
     {"deployments": [{k: v for k, v in W1.to_json().items() if k != "approvals"},
                      {**A2.to_json(), "approvals": None}]},
     DeploymentsRecord((W1, A2))),
    ("approvals-as-strings",
     {"deployments": [{**FULL_ENTRY_JSON, "approvals": ["CAB: Carol Chen", 7]}]},
     DeploymentsRecord((dataclasses.replace(FULL_ENTRY, approvals=("CAB: Carol Chen", "7")),))),
]


@pytest.mark.parametrize("value, expected", [p[1:] for p in PROPERTIES],
                         ids=[p[0] for p in PROPERTIES])
def test_parse_deployments(value, expected):
    assert parse_deployments(value) == expected


def without(name: str) -> dict:
    return {k: v for k, v in D3.to_json().items() if k != name}


# id, one garbled entry (read between two good ones, which stay)
GARBLED = [
    ("not-an-object", "github:acme/shop:run:3:production"),
    ("null", None),
    ("a-list", [["state", "denied"]]),
    ("no-state", without("state")),
    ("unknown-state", {**D3.to_json(), "state": "paused"}),
    ("no-reason", without("reason")),
    ("field-of-another-version", {**D3.to_json(), "region": "eu"}),
    ("approvals-not-a-list", {**D3.to_json(), "approvals": 3}),
    ("null-reason", {**D3.to_json(), "reason": None}),
    ("sha-a-number", {**D3.to_json(), "sha": 1234}),
]


@pytest.mark.parametrize("garbled", [g[1] for g in GARBLED], ids=[g[0] for g in GARBLED])
def test_garbled_entries_are_left_out(garbled):
    value = {"deployments": [W1.to_json(), garbled, FULL_ENTRY_JSON]}
    assert parse_deployments(value) == DeploymentsRecord((W1, FULL_ENTRY))


# -- the remote link on the change and `changeguard check` -----------------------------------

def link(title: str, summary: str, resolved: bool, url: str = RUN_URL,
         run_id: str = "github:acme/shop:run:4") -> dict:
    return {
        "globalId": f"changeguard-deployment={run_id}",
        "application": {"type": "changeguard.deployment", "name": "changeguard"},
        "relationship": "deployed by",
        "object": {"url": url, "title": title, "summary": summary,
                   "status": {"resolved": resolved}},
    }


GITLAB_URL = "https://gitlab.example.com/acme/shop/-/jobs/9"
# id, entry, the remote link of its run
LINKS = [
    ("no-run-page", dataclasses.replace(FULL_ENTRY, run_url=""), None),
    ("every-detail", FULL_ENTRY, link(
        "Deployment to production: succeeded",
        "GitHub Actions run of 0123456789ab, triggered by alice", True)),
    ("no-commit-nor-actor", dataclasses.replace(
        entry(4, DeployState.ALLOWED, "gitlab:7:deployment:15"), vendor="gitlab",
        environment="prod-eu", run_url=GITLAB_URL),
     link("Deployment to prod-eu: in progress", "GitLab run", False, GITLAB_URL,
          "gitlab:7:deployment:15")),
    ("actor-without-commit", dataclasses.replace(FULL_ENTRY, vendor="generic", sha=""),
     link("Deployment to production: succeeded", "pipeline run, triggered by alice", True)),
    ("run-id-too-long-for-a-global-id-hashed", dataclasses.replace(
        FULL_ENTRY, run_id="generic:jenkins:" + "https://ci.example.com/" + "p" * 240),
     link("Deployment to production: succeeded",
          "GitHub Actions run of 0123456789ab, triggered by alice", True, RUN_URL,
          "sha256:830c816099a74e433466c560dfe0a0170f74caa32ce82b170451f5ac49de6224")),
    ("vendor-of-another-version-named-as-is", dataclasses.replace(
        FULL_ENTRY, vendor="bitbucket", triggered_by="", state=DeployState.DENIED),
     link("Deployment to production: denied", "bitbucket run of 0123456789ab", False)),
]


@pytest.mark.parametrize("entry_, expected", [li[1:] for li in LINKS],
                         ids=[li[0] for li in LINKS])
def test_remote_link(entry_, expected):
    assert remote_link(entry_) == expected


@pytest.mark.parametrize("state, title, resolved", [
    (DeployState.WAITING, "Deployment to production: waiting for approval", False),
    (DeployState.ALLOWED, "Deployment to production: in progress", False),
    (DeployState.DENIED, "Deployment to production: denied", False),
    (DeployState.SUCCEEDED, "Deployment to production: succeeded", True),
    (DeployState.FAILED, "Deployment to production: failed", True),
    (DeployState.ROLLED_BACK, "Deployment to production: rolled back", True),
], ids=[s.value for s in DeployState])
def test_remote_link_title_and_resolution_follow_the_state(state, title, resolved):
    value = remote_link(dataclasses.replace(FULL_ENTRY, state=state))
    assert value is not None
    assert (value["object"]["title"], value["object"]["status"]) == (
        title, {"resolved": resolved})


WAITING_REASON = ("CHG-7 is not approved yet: waiting for a CAB member or the Head of "
                  "Engineering to approve it.")
DENIED_REASON = "CHG-7 is still in Draft: fill it in and move it to Awaiting Approval."
LINES_RECORD = DeploymentsRecord((
    dataclasses.replace(entry(1, DeployState.DENIED), vendor="gitlab", sha=SHA,
                        reason=DENIED_REASON),
    dataclasses.replace(entry(2, DeployState.WAITING), vendor="generic", reason=WAITING_REASON),
    dataclasses.replace(FULL_ENTRY, state=DeployState.ALLOWED, at="2026-12-01T10:03:00+00:00",
                        approvals=("CAB: Carol Chen",)),
    dataclasses.replace(entry(4, DeployState.SUCCEEDED), triggered_by="alice",
                        approvals=("CAB: Carol Chen", "Team Lead: Tom Tran")),
    entry(5, DeployState.FAILED, run_url=RUN_URL),
    dataclasses.replace(entry(6, DeployState.ROLLED_BACK), vendor="bitbucket",
                        environment="prod-eu"),
))


@pytest.mark.parametrize("record, expected", [
    (DeploymentsRecord(), ("Deployments: none through the deployment gate yet.",)),
    (LINES_RECORD, (
        "Deployments (newest first):",
        "  2026-12-01T10:06:00+00:00 prod-eu: rolled back (bitbucket)",
        f"  2026-12-01T10:05:00+00:00 production: failed (GitHub Actions) {RUN_URL}",
        "  2026-12-01T10:04:00+00:00 production: succeeded (GitHub Actions by alice)",
        "    allowed on the approvals of CAB: Carol Chen, Team Lead: Tom Tran",
        "  2026-12-01T10:03:00+00:00 production: in progress (GitHub Actions commit "
        f"0123456789ab by alice) {RUN_URL}",
        "    allowed on the approvals of CAB: Carol Chen",
        "  2026-12-01T10:02:00+00:00 production: waiting for approval (pipeline)",
        f"    {WAITING_REASON}",
        "  2026-12-01T10:01:00+00:00 production: denied (GitLab commit 0123456789ab)",
        f"    {DENIED_REASON}",
    )),
], ids=["none-yet", "every-state-newest-first"])
def test_deployment_lines(record, expected):
    assert deployment_lines(record) == expected


def test_a_denied_deployment_shows_its_reason_not_approvals():
    denied = dataclasses.replace(FULL_ENTRY, state=DeployState.DENIED, reason="Denied.")
    assert deployment_lines(DeploymentsRecord((denied,)))[2:] == ("    Denied.",)


@pytest.mark.parametrize("entries, expected", [
    ((), None),
    ((W1, D3), None),
    ((W1, A2, D3), A2),
    ((A2, D3, S5), S5),
    ((S5, A4, D3), A4),
], ids=["no-deployments", "waiting-and-denied-only", "allowed", "ended-after-allowed",
        "allowed-after-ended"])
def test_record_latest_let_through(entries, expected):
    assert DeploymentsRecord(entries).latest() == expected


def _run(run_id, state, sha="abc123"):
    return DeploymentEntry(deployment_id=f"{run_id}:production", run_id=run_id, vendor="gitlab",
                           environment="production", state=state, reason="", at="", sha=sha)


@pytest.mark.parametrize("entries, expected", [
    ((_run("r1", DeployState.ALLOWED),), ()),
    ((_run("r1", DeployState.ALLOWED), _run("r2", DeployState.ALLOWED)),
     (_run("r2", DeployState.ALLOWED),)),
    ((_run("r1", DeployState.ALLOWED), _run("r2", DeployState.SUCCEEDED)), ()),
    ((_run("r1", DeployState.ALLOWED), _run("r2", DeployState.ALLOWED, sha="def456")), ()),
    ((_run("r1", DeployState.ALLOWED, sha=""), _run("r2", DeployState.ALLOWED, sha="")), ()),
    ((_run("r2", DeployState.ALLOWED),), ()),
], ids=["alone", "another-region-running", "another-region-ended", "another-commit",
        "no-commit-known", "run-not-recorded"])
def test_other_deployments_of_the_commit_still_running(entries, expected):
    assert DeploymentsRecord(entries).still_deploying("r1") == expected


@pytest.mark.parametrize("others, result, expected", [
    ((), DeployResult.SUCCESS, DeployResult.SUCCESS),
    ((), DeployResult.FAILURE, DeployResult.FAILURE),
    ((_run("r2", DeployState.FAILED),), DeployResult.SUCCESS, DeployResult.FAILURE),
    ((_run("r2", DeployState.ROLLED_BACK), _run("r3", DeployState.FAILED)), DeployResult.SUCCESS,
     DeployResult.ROLLED_BACK),
    ((_run("r2", DeployState.FAILED, sha="def456"),), DeployResult.SUCCESS, DeployResult.SUCCESS),
    ((_run("r2", DeployState.SUCCEEDED),), DeployResult.ROLLED_BACK, DeployResult.ROLLED_BACK),
], ids=["alone-success", "alone-failure", "a-region-failed", "a-region-rolled-back",
        "another-commit-failed", "this-one-rolled-back"])
def test_the_commit_result_is_the_worst_of_its_regions(others, result, expected):
    record = DeploymentsRecord((_run("r1", DeployState.ALLOWED), *others))
    assert record.commit_result("r1", result) is expected
