"""The worker acting as a GitHub App installation: JWT, one cached installation token, the App's bot identity."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.core.settings import Settings
from bot.server.ledger import Ledger, NewJob
from bot.server.settings import ServerSettings
from bot.server.worker import Worker
from tests.doubles.github import GitHubDouble
from tests.doubles.mistral import MistralDouble
from tests.modelreplies import first_added
from tests.pullrequests import BASE_SHA, diff_files

REPO = "octo/app-installed"


def _private_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def test_jobs_of_an_installation_share_one_token_and_post_as_the_app(tmp_path: Path) -> None:
    key_file = tmp_path / "app.pem"
    key_file.write_text(_private_key())
    with GitHubDouble(bot_login="acme-reviewer[bot]", installation_id=77) as gh, MistralDouble() as mistral:
        gh.add_repo(REPO)
        mistral.responder = first_added()
        env = {"GITHUB_APP_ID": "4242", "GITHUB_APP_PRIVATE_KEY_FILE": str(key_file), "GITHUB_API_URL": gh.url,
               "MISTRAL_API_KEY": "test-key", "MISTRAL_SERVER_URL": mistral.url,
               "MISTRAL_REVIEW_DATA_DIR": str(tmp_path), "MISTRAL_REVIEW_GITHUB_WRITE_INTERVAL_S": "0"}
        ledger = Ledger.for_data_dir(tmp_path)
        ledger.migrate()
        worker = Worker(ServerSettings.from_env(env), Settings.from_env(env), ledger=ledger)
        for number in (1, 2):
            head = f"{number:02d}" * 20
            gh.add_pull(REPO, number, base_sha=BASE_SHA, head_sha=head, files=diff_files("tiny-one-line-fix.diff"))
            job = ledger.accept(NewJob(f"d{number}", "pull_request", REPO, number, head, 77), now=1.0)
            assert job.job_id
            worker.handle(job.job_id)
            done = ledger.job(job.job_id)
            assert done is not None and done.state == "done" and done.detail.startswith("reviewed"), done
        assert len(gh.tokens) == 1  # cached until shortly before it expires
        for number in (1, 2):
            (review,) = gh.reviews(REPO, number)
            assert review["user"]["login"] == "acme-reviewer[bot]"
            (summary,) = gh.issue_comments(REPO, number)
            assert summary["user"]["login"] == "acme-reviewer[bot]"
        auth = [{k.lower(): v for k, v in r.headers.items()}.get("authorization", "") for r in gh.requests
                if "/repos/" in r.path and not r.path.endswith("/installation")]
        used = {value.split()[-1][:4] for value in auth}
        assert used == {"ghs_"}  # repository calls use the installation token, never the JWT
        assert gh.schema_errors == [] and gh.crashes == []


def test_the_pr_marker_follows_the_ledger_when_the_ledger_knows_more(tmp_path: Path) -> None:
    from bot.core.spend import Usage

    with GitHubDouble() as gh, MistralDouble() as mistral:
        gh.add_repo(REPO)
        mistral.responder = first_added()
        env = {"GITHUB_TOKEN": "ghp_test", "GITHUB_API_URL": gh.url, "MISTRAL_API_KEY": "test-key",
               "MISTRAL_SERVER_URL": mistral.url, "MISTRAL_REVIEW_DATA_DIR": str(tmp_path),
               "MISTRAL_REVIEW_GITHUB_WRITE_INTERVAL_S": "0"}
        ledger = Ledger.for_data_dir(tmp_path)
        ledger.migrate()
        # A run the PR's marker never heard of (killed after the model answered) is in the ledger.
        lost = ledger.claim(ledger.accept(NewJob("d4", "pull_request", REPO, 5, "04" * 20, None), now=0.5).job_id or "",
                            worker="dead", lease_s=1, now=0.5)
        assert lost is not None
        ledger.settle(lost, started_at=0.6, reserved=0.03, usage=Usage(100_000, 20_000, 0.027, 1), model="m")
        ledger.finish(lost.id, lost.attempts, state="failed", detail="killed", now=0.7)
        gh.add_pull(REPO, 5, base_sha=BASE_SHA, head_sha="05" * 20, files=diff_files("tiny-one-line-fix.diff"))
        job = ledger.accept(NewJob("d5", "pull_request", REPO, 5, "05" * 20, None), now=1.0)
        assert job.job_id
        Worker(ServerSettings.from_env(env), Settings.from_env(env), ledger=ledger).handle(job.job_id)
        (summary,) = gh.issue_comments(REPO, 5)
        marker = summary["body"].split("mistral-review:summary ", 1)[1]
        cost = float(marker.split('"cost_usd":', 1)[1].split(",", 1)[0])
        _, _, ledger_total = ledger.pr_totals(REPO, 5)
        assert cost > 0.027 and cost == round(ledger_total, 6)
