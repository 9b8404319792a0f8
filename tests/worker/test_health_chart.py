"""The change health chart: a valid SVG, the same bytes for the same weeks, no date inside."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date, timedelta

from rules.change_health import SCOPES, HealthTable, WeekHealth
from worker.health_chart import TITLE, render_health_svg

SVG = "{http://www.w3.org/2000/svg}"
WEEKS = tuple(date(2026, 9, 7) + timedelta(weeks=n) for n in range(4))


def table(deployments: list[int], failures: list[int]) -> HealthTable:
    return HealthTable(WEEKS, {(week, scope): WeekHealth(deployments=d, failures=f)
                               for week, d, f in zip(WEEKS, deployments, failures)
                               for scope in SCOPES}, 48)


def test_the_chart_is_an_svg_with_its_title_axes_and_week_labels():
    svg = render_health_svg(table([3, 0, 5, 2], [1, 0, 0, 2]))
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    texts = [t for t in root.itertext() if t.strip()]
    for wanted in (TITLE, "Deployments", "Change failure rate", "Week starting (Monday)",
                   "7 Sep", "14 Sep", "21 Sep", "28 Sep"):
        assert wanted in texts


def test_the_same_weeks_draw_the_same_bytes_and_other_weeks_do_not():
    first = render_health_svg(table([3, 0, 5, 2], [1, 0, 0, 2]))
    assert render_health_svg(table([3, 0, 5, 2], [1, 0, 0, 2])) == first
    assert render_health_svg(table([3, 1, 5, 2], [1, 0, 0, 2])) != first
    assert b"<dc:date>" not in first
