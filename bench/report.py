"""Benchmark rows, the machine they ran on, and the BENCHMARKS.md table."""

from __future__ import annotations

import math
import os
import platform
import statistics
from dataclasses import dataclass
from datetime import datetime, timezone


@dataclass(frozen=True)
class Row:
    """One line of the results table: what was measured, against what, and the verdict."""

    what: str
    baseline: str
    ours: str
    ratio: float | None
    target: str
    met: bool | None
    note: str = ""
    if_missed: str = ""  # why the target is missed and what would reach it


def percentile(values: list[float], fraction: float) -> float:
    """Return the nearest-rank percentile of ``values`` (fraction in 0..1)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = math.ceil(fraction * len(ordered))
    return ordered[min(max(rank, 1), len(ordered)) - 1]


def median(values: list[float]) -> float:
    """Return the median, NaN for no values."""
    return statistics.median(values) if values else float("nan")


def machine() -> dict[str, str]:
    """Return nproc, the CPU model, the Python version and the date of this run."""
    model = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "python": platform.python_version(),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def _met(value: bool | None) -> str:
    return "—" if value is None else ("yes" if value else "**no**")


def render(rows: list[Row], info: dict[str, str], *, preamble: str, notes: str) -> str:
    """Return BENCHMARKS.md: the machine, the table, the row notes and the explanations."""
    lines = [
        "# Benchmarks",
        "",
        preamble.strip(),
        "",
        f"- Machine: {info['nproc']} CPUs, {info['cpu']}; Python {info['python']}",
        f"- Date: {info['date']}; load average at the end of the run: {info['load']}",
        "- Command: `./scripts/bench.sh` (sets up `.venv`, then `.venv/bin/python -m bench`)",
        "",
        "| what | baseline | ours | ratio | target | met? |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        ratio = "—" if row.ratio is None else f"{row.ratio:.2f}"
        lines.append(f"| {row.what} | {row.baseline} | {row.ours} | {ratio} | {row.target} "
                     f"| {_met(row.met)} |")
    row_notes = [f"- **{row.what}**: {row.note}" for row in rows if row.note]
    if row_notes:
        lines += ["", "## How each row was measured", "", *row_notes]
    missed = [f"- **{row.what}**: {row.if_missed}" for row in rows if row.met is False]
    if missed:
        lines += ["", "## Targets missed in this run, and what would reach them", "", *missed]
    lines += ["", notes.strip(), ""]
    return "\n".join(lines)
