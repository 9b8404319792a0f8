"""The sandbox's remote links, user search and transitions with fields behave as Jira Cloud's."""

from __future__ import annotations

import pytest
import requests

from sandbox.jira_server import SandboxJira
from sandbox.jira_state import FIRST_REMOTE_LINK_ID

MISSING_ISSUE = {"errorMessages": ["Issue does not exist or you do not have permission to see it."],
                 "errors": {}}
RUN = "https://github.com/acme/shop/actions/runs/{}"
ICON = {"url16x16": "https://github.com/favicon.ico", "title": "GitHub Actions"}
APP = {"type": "com.github.actions", "name": "GitHub Actions"}


def _link(run: int, title: str, resolved: bool, **extra: object) -> dict[str, object]:
    """Return a remote link to a pipeline run, as changeguard sends it."""
    return {
        "globalId": f"changeguard:run:{run}",
        "application": APP,
        "relationship": "deployed by",
        "object": {"url": RUN.format(run), "title": title, "summary": "production",
                   "icon": ICON, "status": {"resolved": resolved, "icon": ICON}},
        **extra,
    }


def _shown(jira: SandboxJira, offset: int, body: dict[str, object]) -> dict[str, object]:
    """Return the link as GET remotelink shows it: the body with its id and self."""
    link_id = FIRST_REMOTE_LINK_ID + offset
    return {"id": link_id, "self": f"{jira.base_url}/rest/api/3/issue/CHG-1/remotelink/{link_id}",
            **body}


WITHOUT_PARTS = {"object": {"url": RUN.format(7), "title": "Run 7"}}
UPSERTS = [
    ("create-then-update-by-global-id",
     [_link(1, "Deploying to production", False), _link(1, "Deployed to production", True)],
     [201, 200], [(0, _link(1, "Deployed to production", True))]),
    ("two-global-ids-two-links",
     [_link(1, "Run 1", False), _link(2, "Run 2", False)],
     [201, 201], [(0, _link(1, "Run 1", False)), (1, _link(2, "Run 2", False))]),
    ("no-global-id-always-creates",
     [WITHOUT_PARTS, WITHOUT_PARTS], [201, 201], [(0, WITHOUT_PARTS), (1, WITHOUT_PARTS)]),
    ("update-clears-what-it-leaves-out",
     [_link(1, "Run 1", False),
      {"globalId": "changeguard:run:1", "object": {"url": RUN.format(1), "title": "Run 1"}}],
     [201, 200],
     [(0, {"globalId": "changeguard:run:1", "object": {"url": RUN.format(1), "title": "Run 1"}})]),
]


@pytest.mark.parametrize(("bodies", "statuses", "links"), [u[1:] for u in UPSERTS],
                         ids=[u[0] for u in UPSERTS])
def test_post_creates_or_updates_by_global_id(jira, http, bodies, statuses, links):
    answers = [http("POST", "/rest/api/3/issue/CHG-1/remotelink", json=body) for body in bodies]
    expected = [_shown(jira, offset, body) for offset, body in links]
    assert [a.status_code for a in answers] == statuses
    assert [a.json() for a in answers] == [
        {"id": expected[min(i, len(expected) - 1)]["id"],
         "self": expected[min(i, len(expected) - 1)]["self"]} for i in range(len(answers))]
    assert jira.remote_links("CHG-1") == expected
    assert http("GET", "/rest/api/3/issue/CHG-1/remotelink").json() == expected


@pytest.mark.parametrize(
    ("global_id", "status", "answer"),
    [("changeguard:run:2", 200, "second"),
     ("changeguard:run:3", 404, {"errorMessages": [
         "No remote link with global ID 'changeguard:run:3' on issue CHG-1."], "errors": {}})],
    ids=["found-alone-not-in-a-list", "absent-is-404"],
)
def test_get_filtered_by_global_id(jira, http, global_id, status, answer):
    for run in (1, 2):
        http("POST", "/rest/api/3/issue/CHG-1/remotelink", json=_link(run, f"Run {run}", False))
    got = http("GET", "/rest/api/3/issue/CHG-1/remotelink", params={"globalId": global_id})
    second = _shown(jira, 1, _link(2, "Run 2", False))
    assert (got.status_code, got.json()) == (status, second if answer == "second" else answer)


@pytest.mark.parametrize(
    ("method", "kwargs"),
    [("POST", {"json": _link(1, "Run 1", False)}), ("GET", {}),
     ("GET", {"params": {"globalId": "changeguard:run:1"}})],
    ids=["post", "get", "get-by-global-id"],
)
def test_unknown_issue_is_404(http, method, kwargs):
    answer = http(method, "/rest/api/3/issue/CHG-999/remotelink", **kwargs)
    assert (answer.status_code, answer.json()) == (404, MISSING_ISSUE)


@pytest.mark.parametrize(
    ("body", "broken"),
    [({"globalId": "changeguard:run:1", "relationship": "deployed by"}, "'object'"),
     ({"object": {"url": RUN.format(1)}}, "'title'"),
     ({"globalId": 1, "object": {"url": RUN.format(1), "title": "Run 1"}}, "globalId")],
    ids=["no-object", "object-without-title", "global-id-not-a-string"],
)
def test_body_the_spec_forbids_is_refused_and_flagged(jira, http, body, broken):
    answer = http("POST", "/rest/api/3/issue/CHG-1/remotelink", json=body)
    assert answer.status_code == 400
    assert answer.json()["errorMessages"][0].startswith(
        "The request does not match the Jira Cloud REST API:")
    assert len(jira.spec_violations) == 1
    assert jira.spec_violations[0].startswith("request POST /rest/api/3/issue/CHG-1/remotelink")
    assert broken in jira.spec_violations[0]
    assert jira.remote_links("CHG-1") == []
    jira.reset_recordings()


@pytest.mark.parametrize(
    ("body", "errors"),
    [({"globalId": "g"}, {"object": "'object' is required."}),
     ({"object": {"url": RUN.format(1), "title": " "}}, {"title": "'title' is required."}),
     ({"object": {}}, {"url": "'url' is required.", "title": "'title' is required."}),
     ({"globalId": "g" * 256, "object": {"url": "u", "title": "t"}},
      {"globalId": "The global ID must be at most 255 characters."})],
    ids=["no-object", "blank-title", "empty-object", "global-id-too-long"],
)
def test_unchecked_sandbox_still_answers_jira_field_errors(body, errors):
    with SandboxJira(spec_check=False) as jira:
        person = jira.bot
        answer = requests.post(f"{jira.base_url}/rest/api/3/issue/CHG-1/remotelink", json=body,
                               auth=(person.email, person.api_token), timeout=10)
        assert (answer.status_code, answer.json()) == (400, {"errorMessages": [],
                                                             "errors": errors})
        assert jira.remote_links("CHG-1") == []


# User search

@pytest.mark.parametrize(
    ("params", "names"),
    [({"query": "alice@example.com"}, ["alice"]),
     ({"query": "ALICE@Example.com"}, ["alice"]),
     ({"query": "bob"}, ["bob"]),
     ({"query": "baker"}, ["bob"]),
     ({"query": "c"}, ["changeguard", "carol"]),
     ({"query": "nobody@example.com"}, []),
     ({"query": "c", "maxResults": "1"}, ["changeguard"]),
     ({"query": "c", "startAt": "1"}, ["carol"])],
    ids=["email-exact", "email-any-case", "name-prefix", "surname-prefix", "several",
         "none", "max-results", "start-at"],
)
def test_user_search_matches_prefixes_of_names_and_emails(jira, http, params, names):
    answer = http("GET", "/rest/api/3/user/search", params=params)
    assert answer.status_code == 200
    assert [u["accountId"] for u in answer.json()] == [
        jira.users[n].account_id for n in names]


def test_user_search_answers_users_with_their_email(jira, http):
    alice = jira.users["alice"]
    [found] = http("GET", "/rest/api/3/user/search", params={"query": alice.email}).json()
    assert found == {
        "self": f"{jira.base_url}/rest/api/3/user?accountId={alice.account_id}",
        "accountId": alice.account_id,
        "avatarUrls": {s: f"https://avatar-management.services.atlassian.com/default/{s}"
                       for s in ("48x48", "24x24", "16x16", "32x32")},
        "displayName": "Alice Adams",
        "active": True,
        "timeZone": "Etc/UTC",
        "accountType": "atlassian",
        "emailAddress": "alice@example.com",
    }


@pytest.mark.parametrize(
    ("params", "message"),
    [({}, "One of 'query' or 'accountId' must be provided."),
     ({"query": "alice", "accountId": "x"},
      "The query and accountId parameters cannot be used together.")],
    ids=["nothing-to-match", "query-and-account-id"],
)
def test_user_search_refuses_what_jira_refuses(http, params, message):
    answer = http("GET", "/rest/api/3/user/search", params=params)
    assert (answer.status_code, answer.json()) == (400, {"errorMessages": [message],
                                                         "errors": {}})


def test_user_search_by_account_id(jira, http):
    bob = jira.users["bob"]
    answer = http("GET", "/rest/api/3/user/search", params={"accountId": bob.account_id})
    assert [u["displayName"] for u in answer.json()] == ["Bob Baker"]


# Transitions with fields

@pytest.fixture
def wired(jira, receiver):
    """Point the sandbox's webhooks at the receiver."""
    jira.webhook_url = receiver.url
    return jira


def _implementing(jira: SandboxJira) -> str:
    key = jira.create_change_request("alice", "Ship the checkout", {"Change Category": "Normal"})
    jira.transition(key, "Implementing", "alice")
    return key


def _mark_implemented(jira: SandboxJira, http, key: str, **body: object) -> requests.Response:
    moves = http("GET", f"/rest/api/3/issue/{key}/transitions").json()["transitions"]
    [move] = [t for t in moves if t["to"]["name"] == "Implemented"]
    return http("POST", f"/rest/api/3/issue/{key}/transitions",
                json={"transition": {"id": move["id"]}, **body})


@pytest.mark.parametrize(
    "body",
    [{"fields": {"Outcome": {"value": "Rolled Back"}}},
     {"update": {"Outcome": [{"set": {"value": "Rolled Back"}}]}}],
    ids=["fields", "update-set"],
)
def test_transition_sets_screen_fields_in_one_changelog_entry(wired, http, receiver, body):
    key = _implementing(wired)
    outcome = wired.field_id("Outcome")
    named = {part: {outcome: value["Outcome"]} for part, value in body.items()}
    wired.wait_for_deliveries()
    before = len(receiver.received)
    assert _mark_implemented(wired, http, key, **named).status_code == 204
    wired.wait_for_deliveries()
    [update] = [r.json for r in receiver.received[before:]]
    option = next(o for o in wired.site.fields[outcome].options if o.value == "Rolled Back")
    assert update["webhookEvent"] == "jira:issue_updated"
    assert update["changelog"]["items"] == [
        {"field": "Outcome", "fieldtype": "custom", "fieldId": outcome, "from": None,
         "fromString": None, "to": option.id, "toString": "Rolled Back"},
        {"field": "status", "fieldtype": "jira", "fieldId": "status",
         "from": wired.status_id("Implementing"), "fromString": "Implementing",
         "to": wired.status_id("Implemented"), "toString": "Implemented"},
    ]
    assert update["issue"]["fields"][outcome]["value"] == "Rolled Back"
    assert (wired.status_of(key), wired.value_of(key, "Outcome")["value"]) == (
        "Implemented", "Rolled Back")


@pytest.mark.parametrize(
    ("target", "field", "value"),
    [("Implemented", "Risk Level", {"value": "Low"}),
     ("Approved", "Outcome", {"value": "Successful"}),
     ("Implemented", "Outcome", {"value": "Maybe"})],
    ids=["field-not-on-the-screen", "transition-without-screen", "bad-option"],
)
def test_transition_refuses_fields_it_cannot_set(wired, http, receiver, target, field, value):
    key = _implementing(wired)
    fid = wired.field_id(field)
    moves = http("GET", f"/rest/api/3/issue/{key}/transitions").json()["transitions"]
    [move] = [t for t in moves if t["to"]["name"] == target]
    wired.wait_for_deliveries()
    before = len(receiver.received)
    answer = http("POST", f"/rest/api/3/issue/{key}/transitions",
                  json={"transition": {"id": move["id"]}, "fields": {fid: value}})
    wired.wait_for_deliveries()
    error = (f"Option value '{value['value']}' is not valid" if field == "Outcome"
             and target == "Implemented" else
             f"Field '{fid}' cannot be set. It is not on the appropriate screen, or unknown.")
    assert (answer.status_code, answer.json()) == (400, {"errorMessages": [],
                                                         "errors": {fid: error}})
    assert (wired.status_of(key), wired.value_of(key, "Outcome"), receiver.received[before:]) == (
        "Implementing", None, [])


def test_only_the_transition_with_a_screen_says_so(jira, http):
    key = _implementing(jira)
    moves = http("GET", f"/rest/api/3/issue/{key}/transitions").json()["transitions"]
    assert {t["name"]: t["hasScreen"] for t in moves} == {
        "Mark implemented": True, "Stop implementation": False}
