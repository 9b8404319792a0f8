"""The sandbox's issue links: link types, POST issueLink and the issuelinks field, as Jira's."""

from __future__ import annotations

import pytest
import requests

from rules.change_health import caused_by_keys
from sandbox.adf import text_to_adf
from sandbox.jira_server import SandboxJira
from sandbox.jira_state import FIRST_ISSUE_LINK_ID

MISSING_ISSUE = {"errorMessages": ["Issue does not exist or you do not have permission to see it."],
                 "errors": {}}
# CHG-1 is the CAB epic; each test creates CHG-2 (the cause) and CHG-3 (the Emergency change).
CAUSE, EMERGENCY = "CHG-2", "CHG-3"
CAUSES = {"name": "Causes"}


@pytest.fixture
def pair(jira):
    """Create the two change requests the tests link."""
    keys = (jira.create_change_request("alice", "Ship the new checkout", {}),
            jira.create_change_request("erin", "Roll back the checkout", {}))
    assert keys == (CAUSE, EMERGENCY)
    return keys


def _body(kind: dict, inward: dict, outward: dict, **extra: object) -> dict:
    return {"type": kind, "inwardIssue": inward, "outwardIssue": outward, **extra}


def _seen(jira: SandboxJira, http, key: str) -> list[tuple[str, str, str]]:
    """Return (type name, side, other key) of each link GET issue shows on ``key``."""
    links = http("GET", f"/rest/api/3/issue/{key}", params={"fields": "issuelinks"}).json()[
        "fields"]["issuelinks"]
    assert links == jira.issue_links(key)
    return [(link["type"]["name"], side, link[side]["key"])
            for link in links for side in ("inwardIssue", "outwardIssue") if side in link]


BOTH_SIDES = [("Causes", "outwardIssue", EMERGENCY)], [("Causes", "inwardIssue", CAUSE)]
NO_LINKS = [], []
POSTS = [
    # Jira's POST reads "inwardIssue <outward words> outwardIssue": CHG-2 causes CHG-3.
    ("causes-by-key", [_body(CAUSES, {"key": CAUSE}, {"key": EMERGENCY})], [201], None,
     BOTH_SIDES),
    ("issues-by-id", [_body(CAUSES, {"id": "20002"}, {"id": "20003"})], [201], None, BOTH_SIDES),
    ("type-by-id", [_body({"id": "10000"}, {"key": CAUSE}, {"key": EMERGENCY})], [201], None,
     ([("Blocks", "outwardIssue", EMERGENCY)], [("Blocks", "inwardIssue", CAUSE)])),
    # Jira answers a link made again as created, and keeps the one it has.
    ("same-link-twice", [_body(CAUSES, {"key": CAUSE}, {"key": EMERGENCY})] * 2, [201, 201],
     None, BOTH_SIDES),
    ("reversed-is-another-link",
     [_body(CAUSES, {"key": CAUSE}, {"key": EMERGENCY}),
      _body(CAUSES, {"key": EMERGENCY}, {"key": CAUSE})], [201, 201], None,
     ([("Causes", "outwardIssue", EMERGENCY), ("Causes", "inwardIssue", EMERGENCY)],
      [("Causes", "inwardIssue", CAUSE), ("Causes", "outwardIssue", CAUSE)])),
    # Jira Cloud answers an unknown link type with 404 (its spec; Atlassian's REST client tests).
    ("unknown-type-name", [_body({"name": "Caused by"}, {"key": CAUSE}, {"key": EMERGENCY})],
     [404], {"errorMessages": ["No issue link type with name 'Caused by' found."], "errors": {}},
     NO_LINKS),
    ("unknown-type-id", [_body({"id": "99999"}, {"key": CAUSE}, {"key": EMERGENCY})], [404],
     {"errorMessages": ["No issue link type with id '99999' found."], "errors": {}}, NO_LINKS),
    ("unknown-inward-issue", [_body(CAUSES, {"key": "CHG-99"}, {"key": EMERGENCY})], [404],
     MISSING_ISSUE, NO_LINKS),
    ("unknown-outward-issue", [_body(CAUSES, {"key": CAUSE}, {"key": "CHG-99"})], [404],
     MISSING_ISSUE, NO_LINKS),
    ("empty-comment-links-nothing",
     [_body(CAUSES, {"key": CAUSE}, {"key": EMERGENCY},
            comment={"body": {"type": "doc", "version": 1, "content": []}})], [400],
     {"errorMessages": [], "errors": {"comment": "Comment body can not be empty!"}}, NO_LINKS),
]


@pytest.mark.parametrize(("bodies", "statuses", "error", "links"), [p[1:] for p in POSTS],
                         ids=[p[0] for p in POSTS])
def test_post_issue_link(jira, http, pair, bodies, statuses, error, links):
    answers = [http("POST", "/rest/api/3/issueLink", as_user="erin", json=b) for b in bodies]
    assert [a.status_code for a in answers] == statuses
    assert (answers[-1].json() if error else answers[-1].content) == (error or b"")
    assert (_seen(jira, http, CAUSE), _seen(jira, http, EMERGENCY)) == links
    assert jira.comments(CAUSE) == []


def test_a_comment_in_the_request_goes_on_the_inward_issue(jira, http, pair):
    body = _body(CAUSES, {"key": CAUSE}, {"key": EMERGENCY},
                 comment={"body": text_to_adf("Caused the checkout outage.")})
    assert http("POST", "/rest/api/3/issueLink", as_user="erin", json=body).status_code == 201
    assert [(c["author_account_id"], c["text"]) for c in jira.comments(CAUSE)] == [
        (jira.users["erin"].account_id, "Caused the checkout outage.")]
    assert jira.comments(EMERGENCY) == []


def test_link_types_are_jiras_defaults_and_causes(jira, http):
    answer = http("GET", "/rest/api/3/issueLinkType")
    base = f"{jira.base_url}/rest/api/3/issueLinkType"
    assert (answer.status_code, answer.json()) == (200, {"issueLinkTypes": [
        {"id": ident, "name": name, "inward": inward, "outward": outward,
         "self": f"{base}/{ident}"}
        for ident, name, inward, outward in (
            ("10000", "Blocks", "is blocked by", "blocks"),
            ("10001", "Cloners", "is cloned by", "clones"),
            ("10002", "Duplicate", "is duplicated by", "duplicates"),
            ("10003", "Relates", "relates to", "relates to"),
            ("10004", "Causes", "is caused by", "causes"))]})


def _linked(base: str, ident: str, key: str, summary: str) -> dict:
    """Return a linked issue in Jira's short form: summary, status and issue type."""
    return {
        "id": ident, "key": key, "self": f"{base}/rest/api/3/issue/{ident}",
        "fields": {
            "summary": summary,
            "status": {
                "self": f"{base}/rest/api/3/status/10001", "description": "",
                "iconUrl": f"{base}/", "name": "Draft", "id": "10001",
                "statusCategory": {"self": f"{base}/rest/api/3/statuscategory/2", "id": 2,
                                   "key": "new", "colorName": "blue-gray", "name": "To Do"}},
            "issuetype": {
                "self": f"{base}/rest/api/3/issuetype/10100", "id": "10100",
                "description": "A request to change production.",
                "iconUrl": f"{base}/images/icons/issuetypes/task.svg",
                "name": "Change Request", "subtask": False, "hierarchyLevel": 0}},
    }


def test_each_side_shows_the_other_in_jiras_shape(jira, http, pair):
    jira.link(CAUSE, EMERGENCY, "erin")
    base = jira.base_url
    link = {"id": str(FIRST_ISSUE_LINK_ID),
            "self": f"{base}/rest/api/3/issueLink/{FIRST_ISSUE_LINK_ID}",
            "type": {"id": "10004", "name": "Causes", "inward": "is caused by",
                     "outward": "causes", "self": f"{base}/rest/api/3/issueLinkType/10004"}}
    emergency = http("GET", f"/rest/api/3/issue/{EMERGENCY}").json()["fields"]["issuelinks"]
    cause = http("GET", f"/rest/api/3/issue/{CAUSE}").json()["fields"]["issuelinks"]
    assert emergency == [{**link, "inwardIssue": _linked(base, "20002", CAUSE,
                                                         "Ship the new checkout")}]
    assert cause == [{**link, "outwardIssue": _linked(base, "20003", EMERGENCY,
                                                      "Roll back the checkout")}]


def test_the_rule_reads_the_emergency_side_as_caused_by(jira, http, pair):
    jira.link(CAUSE, EMERGENCY, "erin")
    jira.link(EMERGENCY, CAUSE, "erin", type_name="Relates")

    def fields(key):
        return http("GET", f"/rest/api/3/issue/{key}", params={"fields": "issuelinks"}).json()[
            "fields"]

    assert (caused_by_keys(fields(EMERGENCY)), caused_by_keys(fields(CAUSE))) == ((CAUSE,), ())


@pytest.mark.parametrize(("fields", "shown"), [
    (["issuelinks"], True), (["*all"], True), (["*navigable"], True), (["summary"], False),
    (["*all", "-issuelinks"], False)],
    ids=["asked", "all", "navigable", "other-fields", "excluded"])
def test_search_brings_links_when_fields_ask_for_them(jira, http, pair, fields, shown):
    jira.link(CAUSE, EMERGENCY, "erin")
    found = http("POST", "/rest/api/3/search/jql", json={
        "jql": f"key = {EMERGENCY}", "fields": fields}).json()["issues"]
    assert [("issuelinks" in issue["fields"], issue["fields"].get("issuelinks"))
            for issue in found] == [(shown, jira.issue_links(EMERGENCY) if shown else None)]


def test_deleting_an_issue_deletes_its_links(jira, http, pair):
    jira.link(CAUSE, EMERGENCY, "erin")
    jira.delete(EMERGENCY, "alice")
    assert jira.issue_links(CAUSE) == []
    assert jira.site.issue_links == []


def test_a_body_without_its_parts_is_refused():
    # The spec checker refuses such a body first; without it the sandbox still says no.
    with SandboxJira(spec_check=False) as unchecked:
        unchecked.create_change_request("alice", "Ship the new checkout", {})
        person = unchecked.users["alice"]
        answer = requests.post(f"{unchecked.base_url}/rest/api/3/issueLink", timeout=10,
                               auth=(person.email, person.api_token),
                               json={"type": CAUSES, "inwardIssue": {"key": CAUSE}})
        assert (answer.status_code, answer.json()) == (400, {"errorMessages": [
            "An issue link needs a type and both an inwardIssue and an outwardIssue "
            "(and a comment, if any, is an object)."], "errors": {}})
