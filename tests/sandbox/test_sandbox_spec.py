"""The sandbox holds requests and responses to Atlassian's OpenAPI spec."""

from __future__ import annotations

import pytest
import requests

from sandbox.jira_server import SandboxJira
from sandbox.spec_check import SpecChecker, SpecRequest, SpecResponse, SpecUnavailable


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("POST", "/rest/api/3/issue/CHG-1/transitions", {"json": {"transition": {"id": 21}}}),
        ("GET", "/rest/api/3/group/member", {"params": {"groupname": "cab", "maxResults": "x"}}),
        ("POST", "/rest/api/3/search/jql", {"json": {"jql": "project = CHG", "maxResults": "10"}}),
    ],
    ids=["transition-id-int", "max-results-not-int", "search-max-results-string"],
)
def test_bad_request_is_rejected_and_recorded(jira, http, method, path, kwargs):
    answer = http(method, path, **kwargs)
    assert answer.status_code == 400
    assert answer.json()["errorMessages"][0].startswith(
        "The request does not match the Jira Cloud REST API:")
    assert len(jira.spec_violations) == 1
    assert jira.spec_violations[0].startswith(f"request {method} {path}")
    assert jira.status_of("CHG-1") == "Draft"
    jira.reset_recordings()


def test_paths_outside_the_spec_are_not_checked(jira, http):
    http("GET", "/rest/webhooks/1.0/webhook")
    assert jira.spec_violations == []


def test_unknown_rest_path_is_a_violation_and_404(jira, http):
    answer = http("GET", "/rest/api/3/nothing-here")
    assert answer.status_code == 404
    assert len(jira.spec_violations) == 1
    assert "Path not found" in jira.spec_violations[0]
    jira.reset_recordings()


def test_spec_operation_the_sandbox_does_not_serve_is_404(jira, http):
    answer = http("GET", "/rest/api/3/project")
    assert answer.status_code == 404
    assert answer.json()["errorMessages"] == ["No such resource in the sandbox Jira."]


def test_bad_response_is_recorded():
    checker = SpecChecker()
    request = SpecRequest("GET", "/rest/api/3/issue/CHG-1", {}, {}, None, "")
    response = SpecResponse(200, b'{"key": "CHG-1", "unexpected": true}', "application/json", {})
    problems = checker.check_response(request, response)
    assert len(problems) == 1
    assert "'unexpected' was unexpected" in problems[0]


def test_spec_check_can_be_turned_off():
    with SandboxJira(spec_check=False) as jira:
        person = jira.users["alice"]
        answer = requests.post(f"{jira.base_url}/rest/api/3/issue/CHG-1/transitions",
                               json={"transition": {"id": 21}},
                               auth=(person.email, person.api_token), timeout=10)
        assert answer.status_code == 400
        assert answer.json()["errorMessages"] == [
            "Transition id '21' is not valid for this issue."]
        assert jira.spec_violations == []


def test_missing_spec_is_a_clear_error(tmp_path):
    with pytest.raises(SpecUnavailable, match="Jira OpenAPI spec not found"):
        SpecChecker(tmp_path / "missing.json")
