"""Spend you can see: the `spend` CLI, the dashboard in a real headless browser, and budget alerts.

The ledger is seeded by the real worker reviewing PRs on the GitHub and Mistral doubles,
on three different days of this month.
"""

from __future__ import annotations

import calendar
import csv
import io
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.core.settings import Settings
from bot.server.ledger import NewJob
from bot.server.settings import ServerSettings
from bot.server.worker import Worker, open_ledger
from tests.doubles.github import GitHubDouble
from tests.doubles.mistral import MistralDouble, Reply
from tests.modelreplies import first_added
from tests.pullrequests import BASE_SHA, diff_files
from tests.servers import SECRET, Server

REPO = "octo/spend"
TOKEN = "dashboard-secret-token"
PRS = {31: "tiny-one-line-fix.diff", 32: "new-file.diff", 33: "rename-with-edits.diff"}


def _days_this_month() -> list[int]:
    today = time.gmtime().tm_mday
    return sorted({1, max(1, today // 2), today})


def _at_day(day: int) -> float:
    now = time.gmtime()
    return float(calendar.timegm((now.tm_year, now.tm_mon, day, 12, 0, 0)))


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data_dir = tmp_path_factory.mktemp("spend")
    with GitHubDouble() as gh, MistralDouble() as mistral:
        gh.add_repo(REPO)
        mistral.responder = first_added()
        env = {"GITHUB_TOKEN": "ghp_test", "GITHUB_API_URL": gh.url, "MISTRAL_API_KEY": "test-key",
               "MISTRAL_SERVER_URL": mistral.url, "MISTRAL_REVIEW_DATA_DIR": str(data_dir),
               "MISTRAL_REVIEW_GITHUB_WRITE_INTERVAL_S": "0", "MISTRAL_REVIEW_MONTHLY_BUDGETS": f"repo:{REPO}=0.01"}
        settings = ServerSettings.from_env(env)
        ledger = open_ledger(settings)
        days = _days_this_month()
        for (number, diff), day in zip(PRS.items(), days * 3):
            head = f"{number:02d}" * 20
            gh.add_pull(REPO, number, base_sha=BASE_SHA, head_sha=head, files=diff_files(diff))
            job = ledger.accept(NewJob(f"seed-{number}", "pull_request", REPO, number, head, None), now=_at_day(day))
            assert job.job_id
            Worker(settings, Settings.from_env(env), ledger=ledger, clock=lambda d=day: _at_day(d)).handle(job.job_id)
        yield {"env": env, "data_dir": data_dir, "ledger": ledger, "days": days, "gh": gh, "mistral": mistral}
        assert gh.schema_errors == [] and mistral.schema_errors == []


def _spend(seeded: dict[str, Any], *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["spend", *args], env=seeded["env"], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_spend_json_matches_the_ledger(seeded: dict[str, Any]) -> None:
    rows = seeded["ledger"].reviews()
    assert len(rows) == 3 and all(r.cost_usd > 0 for r in rows)
    code, out, _ = _spend(seeded, "--format", "json", "--month", time.strftime("%Y-%m", time.gmtime()))
    report = json.loads(out)
    (repo,) = report["repos"]
    assert code == 0 and repo["repo"] == REPO and repo["reviews"] == 3
    assert repo["cost_usd"] == pytest.approx(sum(r.cost_usd for r in rows), abs=1e-6)
    assert repo["prompt_tokens"] == sum(r.prompt_tokens for r in rows)
    assert repo["budget_usd"] == 0.01 and repo["budget_used"] == pytest.approx(repo["cost_usd"] / 0.01, abs=1e-3)
    assert repo["cost_per_line_usd"] == pytest.approx(repo["cost_usd"] / sum(r.changed_lines for r in rows), rel=1e-3)
    assert sorted(p["pr_number"] for p in report["pull_requests"]) == sorted(PRS)


def test_spend_filters_and_csv_and_text(seeded: dict[str, Any]) -> None:
    code, out, _ = _spend(seeded, "--repo", REPO, "--pr", "32", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and [(r["kind"], r["pr_number"]) for r in rows] == [("repo", ""), ("pr", "32")]
    (review,) = seeded["ledger"].reviews(repo=REPO, pr_number=32)
    assert float(rows[1]["cost_usd"]) == pytest.approx(review.cost_usd, abs=1e-6)
    code, out, _ = _spend(seeded)
    assert code == 0 and out.startswith("Spend") and f"{REPO}#31" in out and "total: 3 review(s)" in out
    assert _spend(seeded, "--month", "1999-01")[1].startswith("No reviews recorded in 1999-01")
    code, _, err = _spend(seeded, "--pr", "3")
    assert code == 2 and "--pr needs --repo" in err


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed (.ci/run installs Debian's chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


def _browse(url: str, tmp: Path, *extra: str) -> str:
    """Load a page in headless Chromium kept off the network; return the DOM it rendered."""
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-default-apps", "--disable-extensions", "--no-default-browser-check",
             f"--user-data-dir={tmp / 'profile'}", "--window-size=820,1600"]
    done = subprocess.run([_chromium(), *flags, *extra, url], capture_output=True, text=True, timeout=120)
    return done.stdout


@pytest.fixture(scope="module")
def server(seeded: dict[str, Any]) -> Iterator[Server]:
    env = {**seeded["env"], "PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"),
           "GITHUB_WEBHOOK_SECRET": SECRET, "MISTRAL_REVIEW_DASHBOARD_TOKEN": TOKEN}
    running = Server(env, seeded["data_dir"])
    yield running
    running.stop()


def test_the_dashboard_needs_credentials(server: Server, tmp_path: Path) -> None:
    assert server.get("/dashboard")[0] == 401
    assert server.get("/dashboard", headers={"Authorization": "Bearer wrong"})[0] == 401
    dom = _browse(f"{server.url}/dashboard", tmp_path, "--dump-dom")
    assert "spend-chart" not in dom and "total-cost" not in dom  # the browser got the login prompt, no page


def test_the_dashboard_shows_the_ledgers_numbers_and_a_point_per_day(server: Server, seeded: dict[str, Any],
                                                                     tmp_path: Path) -> None:
    dom = _browse(f"{server.url}/dashboard?token={TOKEN}", tmp_path, "--dump-dom")
    rows = seeded["ledger"].reviews()
    assert f'id="total-reviews">{len(rows)}<' in dom
    assert f'data-usd="{sum(r.cost_usd for r in rows):.6f}"' in dom
    assert f'id="total-input">{sum(r.prompt_tokens for r in rows):,}<' in dom
    points = dom.count('class="point"')
    assert points == time.gmtime().tm_mday  # one point per day of the month so far
    for day in seeded["days"]:
        spent = sum(r.cost_usd for r in rows if time.gmtime(r.finished_at).tm_mday == day)
        assert f'data-day="{day}" data-usd="{spent:.6f}"' in dom
    web = seeded["env"]["GITHUB_API_URL"]  # a PR's link is on the web address of the GitHub it lives on (here the double)
    for number in PRS:
        assert f'href="{web}/{REPO}/pull/{number}"' in dom
    assert f"{REPO}: $" in dom and "of $0.0100" in dom  # the repo's budget bar
    assert dom.count("per line") >= 2  # cheapest and dearest reviews per changed line


def test_the_dashboard_screenshot_has_a_drawn_chart(server: Server, tmp_path: Path) -> None:
    from PIL import Image

    shot = tmp_path / "dashboard.png"
    _browse(f"{server.url}/dashboard?token={TOKEN}", tmp_path, f"--screenshot={shot}")
    raw = Image.open(shot).convert("RGB").tobytes()
    pixels = list(zip(raw[0::3], raw[1::3], raw[2::3]))
    orange = sum(1 for r, g, b in pixels if r > 200 and 70 < g < 110 and b < 40)  # the spend line
    shaded = sum(1 for r, g, b in pixels if r > 240 and 200 < g < 220 and 170 < b < 190)  # the area below it
    assert orange > 200 and shaded > 200, (orange, shaded)


def test_budget_alerts_reach_the_summary_and_metrics(seeded: dict[str, Any], server: Server) -> None:
    gh = seeded["gh"]
    spent, _ = seeded["ledger"].month_spend("repo", REPO, time.strftime("%Y-%m", time.gmtime()))
    # The operator restarts with a lower cap (85% used: past the 80% alert); the cap is configuration, read at start.
    env = {**server.env, "MISTRAL_REVIEW_MONTHLY_BUDGETS": f"repo:{REPO}={spent / 0.85:.6f}"}
    ledger = open_ledger(ServerSettings.from_env(env))
    gh.add_pull(REPO, 34, base_sha=BASE_SHA, head_sha="34" * 20, files=diff_files("tiny-one-line-fix.diff"))
    job = ledger.accept(NewJob("alert-34", "pull_request", REPO, 34, "34" * 20, None), now=time.time())
    Worker(ServerSettings.from_env(env), Settings.from_env(env), ledger=ledger).handle(job.job_id)
    summary = next(c["body"] for c in gh.issue_comments(REPO, 34) if "mistral-review:summary" in c["body"])
    assert "Monthly budget alert: this repo has used 8" in summary
    restarted = Server(env, seeded["data_dir"])
    try:
        status, text = restarted.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    finally:
        restarted.stop()
    ratio = next(line for line in text.splitlines() if line.startswith("mistral_review_budget_used_ratio{"))
    assert status == 200 and float(ratio.split()[-1]) >= 0.8
    seeded["mistral"].responder = lambda body, attempt: Reply()


def test_a_pr_known_only_by_its_calls_links_to_the_github_the_server_reviews_on() -> None:
    """On GitHub Enterprise the report's PR links use its own web address, not github.com."""
    from bot.hosts.github.urls import web_url
    from bot.server.records import CallRow
    from bot.server.spend_report import build_report

    call = CallRow(None, 1, "octo/demo", 7, None, "mistral-small-2603", 1000, 100, 0.0002, False, 0.0)
    ghe = build_report([], [call], month=None, github_web=web_url("https://ghe.example.com/api/v3"))
    assert [pr.pr_url for pr in ghe.prs] == ["https://ghe.example.com/octo/demo/pull/7"]
    assert build_report([], [call], month=None).prs[0].pr_url == "https://github.com/octo/demo/pull/7"
