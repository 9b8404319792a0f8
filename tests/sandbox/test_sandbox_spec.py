"""The sandbox holds requests and responses to Atlassian's OpenAPI spec."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import requests

from sandbox.jira_server import SandboxJira
from sandbox.spec_check import SpecChecker, SpecRequest, SpecResponse, SpecUnavailable

ROOT = Path(__file__).resolve().parents[2]
# Runs the sandbox as where openapi-core is not installed (None in sys.modules blocks an import).
WITHOUT_OPENAPI_CORE = """
import sys
sys.modules["openapi_core"] = None
import requests
from sandbox.jira_server import SandboxJira
try:
    with SandboxJira(spec_check={spec_check}) as jira:
        person = jira.users["alice"]
        answer = requests.get(f"{{jira.base_url}}/rest/api/3/myself",
                              auth=(person.email, person.api_token), timeout=10)
        print(answer.status_code, "sandbox.spec_check" in sys.modules)
except ImportError as exc:
    print("ImportError", exc.name)
"""


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
    with pytest.raises(SpecUnavailable) as raised:
        SpecChecker(tmp_path / "missing.json")
    assert str(raised.value) == (
        f"Jira OpenAPI spec not found at {tmp_path / 'missing.json'}; "
        "run scripts/make_jira_spec_subset.py or use spec_check=False")


@pytest.mark.parametrize(
    ("spec_check", "output"),
    [(False, "200 False\n"), (True, "ImportError openapi_core\n")],
    ids=["unchecked-runs", "checked-needs-openapi-core"],
)
def test_only_the_spec_check_needs_openapi_core(spec_check, output):
    script = WITHOUT_OPENAPI_CORE.format(spec_check=spec_check)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert (done.stdout, done.returncode) == (output, 0)
