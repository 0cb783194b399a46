"""The spend dashboard as one self-contained HTML page with a server-rendered SVG chart. Pure.

No scripts, fonts or CDN: the page works offline and on a phone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

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


def spend_chart(daily: Sequence[tuple[int, float]]) -> str:
    """Return an SVG line chart of dollars per day, one point per day."""
    if not daily:
        return '<p class="muted">No days yet.</p>'
    top = max(v for _, v in daily) or 1.0
    step = (CHART_W - 2 * PAD) / max(1, len(daily) - 1)

    def xy(i: int, value: float) -> tuple[float, float]:
        return PAD + i * step, CHART_H - PAD - (CHART_H - 2 * PAD) * value / top

    points = [xy(i, v) for i, (_, v) in enumerate(daily)]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    area = f"{PAD},{CHART_H - PAD} {line} {points[-1][0]:.1f},{CHART_H - PAD}"
    dots = "".join(f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3" data-day="{d}" data-usd="{v:.6f}">'
                   f"<title>day {d}: ${v:.4f}</title></circle>" for (x, y), (d, v) in zip(points, daily))
    labels = "".join(f'<text x="{xy(i, 0)[0]:.1f}" y="{CHART_H - PAD + 16}" text-anchor="middle">{d}</text>'
                     for i, (d, _) in enumerate(daily) if i % max(1, len(daily) // 8) == 0)
    return (f'<svg id="spend-chart" viewBox="0 0 {CHART_W} {CHART_H}" role="img" '
            f'aria-label="Dollars spent per day">'
            f'<rect x="0" y="0" width="{CHART_W}" height="{CHART_H}" fill="#fff"/>'
            f'<line x1="{PAD}" y1="{CHART_H - PAD}" x2="{CHART_W - PAD}" y2="{CHART_H - PAD}" stroke="#999"/>'
            f'<text x="{PAD}" y="{PAD - 12}">${top:.4f}</text>'
            f'<polygon points="{area}" fill="#fbd3b4"/>'
            f'<polyline points="{line}" fill="none" stroke="#e8590c" stroke-width="3"/>{dots}{labels}</svg>')


def _usd(value: float) -> str:
    return f"${value:.2f}" if value >= 1 else f"${value:.4f}"


def _row_link(row: ReviewRow) -> str:
    label = escape(f"{row.repo}#{row.pr_number}")
    per_line = row.cost_usd / row.changed_lines
    return (f'<li><a href="{escape(row.pr_url)}">{label}</a> ${per_line:.6f} per line '
            f"({row.changed_lines} lines, ${row.cost_usd:.4f})</li>")


def render_dashboard(data: DashboardData) -> str:
    """Return the dashboard page."""
    prs = "".join(
        f'<tr><td><a href="{escape(t.pr_url)}">{escape(t.repo)}#{t.pr_number}</a></td><td>{t.reviews}</td>'
        f'<td class="num" data-usd="{t.cost_usd:.6f}">${t.cost_usd:.4f}</td></tr>' for t in data.top_prs)
    bars = "".join(
        f'<div class="bar"><span>{escape(repo)}: {_usd(spent)} of {_usd(limit)} ({spent / limit:.0%})</span>'
        f'<div class="track"><div class="fill{" over" if spent >= limit else ""}" '
        f'style="width:{min(100.0, 100 * spent / limit):.1f}%"></div></div></div>'
        for repo, spent, limit in data.budgets) or '<p class="muted">No monthly budgets set.</p>'
    cheap = "".join(_row_link(r) for r in data.cheapest) or "<li>none yet</li>"
    dear = "".join(_row_link(r) for r in data.dearest) or "<li>none yet</li>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mistral-review spend {escape(data.month)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 0 auto; max-width: 760px; padding: 12px; color: #222; }}
h1 {{ font-size: 1.3rem; }} h2 {{ font-size: 1.05rem; margin-top: 1.4em; }}
.cards {{ display: flex; flex-wrap: wrap; gap: 8px; }}
.card {{ flex: 1 1 140px; border: 1px solid #ddd; border-radius: 8px; padding: 8px; }}
.card b {{ display: block; font-size: 1.3rem; }}
svg {{ width: 100%; height: auto; font-size: 11px; fill: #555; }}
table {{ width: 100%; border-collapse: collapse; }} td {{ padding: 4px; border-bottom: 1px solid #eee; }}
.num {{ text-align: right; }} .muted {{ color: #888; }}
.track {{ background: #eee; border-radius: 4px; height: 12px; }}
.fill {{ background: #2f9e44; height: 12px; border-radius: 4px; }} .fill.over {{ background: #e03131; }}
.bar {{ margin: 6px 0; }}
</style></head>
<body>
<h1>mistral-review: spend in {escape(data.month)}</h1>
<div class="cards">
<div class="card">Reviews<b id="total-reviews">{data.reviews}</b></div>
<div class="card">Dollars<b id="total-cost" data-usd="{data.cost_usd:.6f}">${data.cost_usd:.4f}</b></div>
<div class="card">Input tokens<b id="total-input">{data.prompt_tokens:,}</b></div>
<div class="card">Output tokens<b id="total-output">{data.completion_tokens:,}</b></div>
</div>
<h2>Spend per day</h2>
{spend_chart(data.daily)}
<h2>Top pull requests by spend</h2>
<table id="top-prs"><tr><th align="left">pull request</th><th>reviews</th><th class="num">dollars</th></tr>{prs}</table>
<h2>Monthly budgets</h2>
{bars}
<h2>Cost per changed line</h2>
<p>Cheapest:</p><ul id="cheapest">{cheap}</ul>
<p>Dearest:</p><ul id="dearest">{dear}</ul>
</body></html>
"""
