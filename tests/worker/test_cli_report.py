"""`changeguard report`: change health week by week on the terminal, as CSV, and as an SVG chart."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bench.history import History
from rules.change_health import weeks_before

from ..builders import AGENDA_NORMAL, run_changeguard, site_env

ZONE = ZoneInfo("Europe/London")


@pytest.fixture
def last_week(jira):
    """Three Normal changes deployed last week (weeks computed from the clock), one Failed;
    one the week before."""
    first, last = weeks_before(datetime.now(timezone.utc), 2, ZONE)
    history = History(jira)
    with history.quiet():
        for monday, outcome in ((first, "Successful"), (last, "Successful"), (last, "Failed"),
                                (last, "Successful")):
            created = datetime(monday.year, monday.month, monday.day, 12, tzinfo=timezone.utc)
            key = history.create({**AGENDA_NORMAL, "Outcome": outcome}, created)
            history.walk(key, ("Awaiting Approval", created + timedelta(minutes=5)),
                         ("Approved", created + timedelta(hours=6)),
                         ("Implementing", created + timedelta(days=1)),
                         ("Implemented", created + timedelta(days=1, hours=12)))
    return first, last


def test_report_as_csv_for_a_spreadsheet(jira, redis_url, namespace, last_week):
    first, last = last_week
    result = run_changeguard("report", "--weeks", "2", "--csv",
                             env_changes=site_env(jira, redis_url, CHANGEGUARD_NAMESPACE=namespace))
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout, newline="")))
    assert [(row["week"], row["category"]) for row in rows] == [
        (week.isoformat(), scope) for week in (first, last)
        for scope in ("All changes", "Standard", "Normal", "Emergency")]
    normal = {row["week"]: row for row in rows if row["category"] == "Normal"}
    assert {k: normal[last.isoformat()][k] for k in (
        "deployments", "failures", "change_failure_rate", "lead_time_to_approval_hours",
        "lead_time_to_implemented_hours", "time_to_restore_hours")} == {
        "deployments": "3", "failures": "1", "change_failure_rate": "0.3333",
        "lead_time_to_approval_hours": "6", "lead_time_to_implemented_hours": "30",
        "time_to_restore_hours": ""}
    assert (normal[first.isoformat()]["deployments"], normal[first.isoformat()]["failures"]) == (
        "1", "0")


def test_report_on_the_terminal_with_a_chart(jira, redis_url, namespace, last_week, tmp_path):
    first, last = last_week
    chart = tmp_path / "health.svg"
    result = run_changeguard("report", "--weeks", "2", "--svg", str(chart),
                             env_changes=site_env(jira, redis_url, CHANGEGUARD_NAMESPACE=namespace))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == (f"Change health: week of {last:%d %b %Y} against the median of the 1 "
                        f"weeks from {first:%d %b %Y}")
    assert lines[2].split() == ["All", "changes", "Deployments", "(reached", "Implemented)", "3",
                                "1", "better"]
    assert lines[-3:] == [
        "Week of      Deployments  Failures  Failure rate  Emergency",
        f"{first:%d %b %Y}  1            0         0%            0",
        f"{last:%d %b %Y}  3            1         33%           0"]
    assert result.stderr.strip() == f"wrote {chart}"
    root = ET.fromstring(chart.read_bytes())
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = "".join(root.itertext())
    assert "Deployments" in texts and "Change failure rate" in texts


@pytest.mark.parametrize("weeks", ["0", "105", "many"])
def test_report_refuses_a_number_of_weeks_it_cannot_count(weeks):
    result = run_changeguard("report", "--weeks", weeks, env_changes={})
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "changeguard report: error: argument --weeks: expected a number of weeks from 1 to 104, "
        f"got '{weeks}'")
