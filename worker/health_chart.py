"""Draw change health as a small SVG chart: weekly deployments as bars, failure rate as a line."""

from __future__ import annotations

import io

from rules.change_health import HealthTable

TITLE = "Change health, week by week"
BAR_COLOUR = "#4c72b0"
LINE_COLOUR = "#c44e52"
SIZE_INCHES = (8.0, 3.6)
# Fixed ids and no date in the file: the same table always draws the same bytes.
SVG_METADATA = {"Date": None, "Creator": "changeguard"}
HASH_SALT = "changeguard"


def render_health_svg(table: HealthTable) -> bytes:
    """Return the table's chart as SVG: every change's deployments a week as bars (left axis)
    and its change failure rate as a line (right axis, 0–100 %; a week without deployments has
    no point)."""
    # Imported here: only the weekly run and `changeguard report --svg` draw, not every job.
    import matplotlib
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    cells = [table.cell(week) for week in table.weeks]
    labels = [f"{week.day} {week:%b}" for week in table.weeks]
    positions = list(range(len(table.weeks)))
    rates = [cell.change_failure_rate for cell in cells]
    figure = Figure(figsize=SIZE_INCHES, dpi=100)
    FigureCanvasSVG(figure)
    bars = figure.add_subplot()
    bars.bar(positions, [cell.deployments for cell in cells], color=BAR_COLOUR, width=0.6,
             label="Deployments")
    # Headroom above the highest bar for the legend.
    bars.set_ylim(0, max([1, *(cell.deployments for cell in cells)]) * 1.3)
    bars.set_ylabel("Deployments")
    bars.yaxis.set_major_locator(MaxNLocator(integer=True))
    bars.set_xticks(positions, labels, rotation=45, ha="right", fontsize=8)
    bars.set_xlabel("Week starting (Monday)")
    line = bars.twinx()
    line.plot(positions, [float("nan") if rate is None else rate * 100 for rate in rates],
              color=LINE_COLOUR, marker="o", linewidth=2, label="Change failure rate")
    line.set_ylim(0, 100)
    line.yaxis.set_major_formatter(PercentFormatter())
    line.set_ylabel("Change failure rate")
    handles = bars.get_legend_handles_labels()[0] + line.get_legend_handles_labels()[0]
    bars.legend(handles, [h.get_label() for h in handles], loc="upper left", fontsize=8,
                frameon=False)
    bars.set_title(TITLE)
    figure.tight_layout()
    out = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": HASH_SALT, "svg.fonttype": "none"}):
        figure.savefig(out, format="svg", metadata=SVG_METADATA)
    return out.getvalue()
