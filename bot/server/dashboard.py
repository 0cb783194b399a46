"""The spend dashboard: one self-contained HTML page (templates/dashboard.html) with a server-drawn SVG chart.

No scripts, fonts or CDN: the page works offline and on a phone. Jinja2 autoescapes every value in it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from bot.server.records import ReviewRow
from bot.server.spend_report import Totals

CHART_W, CHART_H, PAD = 640, 220, 36


@dataclass(frozen=True)
class DashboardData:
    """What the dashboard shows for one month."""

    month: str
    reviews: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    daily: Sequence[tuple[int, float]]
    top_prs: Sequence[Totals]
    budgets: Sequence[tuple[str, float, float]]
    cheapest: Sequence[ReviewRow]
    dearest: Sequence[ReviewRow]


@dataclass(frozen=True)
class Point:
    """One day on the chart, in SVG coordinates."""

    day: int
    usd: float
    x: float
    y: float


@dataclass(frozen=True)
class Chart:
    """The spend-per-day line chart, ready to draw."""

    points: Sequence[Point]
    labels: Sequence[Point]
    top: float
    width: int = CHART_W
    height: int = CHART_H
    pad: int = PAD

    @property
    def base(self) -> int:
        """The y of the x axis."""
        return self.height - self.pad

    @property
    def line(self) -> str:
        """The polyline through every day."""
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)

    @property
    def area(self) -> str:
        """The polygon under the line, closed along the x axis."""
        return f"{self.pad},{self.base} {self.line} {self.points[-1].x:.1f},{self.base}"


def spend_chart(daily: Sequence[tuple[int, float]]) -> Chart | None:
    """Place dollars per day on the chart (one point a day, about eight day labels); None without days."""
    if not daily:
        return None
    top = max(v for _, v in daily) or 1.0
    step = (CHART_W - 2 * PAD) / max(1, len(daily) - 1)
    points = [Point(day, usd, PAD + i * step, CHART_H - PAD - (CHART_H - 2 * PAD) * usd / top)
              for i, (day, usd) in enumerate(daily)]
    every = max(1, len(daily) // 8)
    return Chart(points=points, labels=points[::every], top=top)


def _usd(value: float) -> str:
    return f"${value:.2f}" if value >= 1 else f"${value:.4f}"


@cache
def _templates() -> Environment:
    env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["usd"] = _usd
    return env


def render_dashboard(data: DashboardData) -> str:
    """Return the dashboard page."""
    return _templates().get_template("dashboard.html").render(data=data, chart=spend_chart(data.daily))
