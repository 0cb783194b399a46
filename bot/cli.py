"""The `mistral-review` command line: argument parsing and exit codes, nothing else."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, cast

from bot.core.diff import DiffError
from bot.core.errors import ReviewError, UsageError
from bot.core.settings import ConfigError, Settings
from bot.core.sizecaps import parse_capped
from bot.pullcommand import EXIT_OK, emit, run_pull

if TYPE_CHECKING:
    from bot.review.ports import Model

EXIT_FAIL_ON, EXIT_USAGE, EXIT_PARTIAL = 1, 2, 3


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


class _Version(argparse.Action):
    """`--version`: the installed package's version (its metadata, read only when asked), `unknown` in a bare checkout."""

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("mistral-review")
        except PackageNotFoundError:
            found = "unknown"
        sys.stdout.write(f"mistral-review {found}\n")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    """Return the parser for every subcommand."""
    parser = _Parser(prog="mistral-review", description="AI code review with Mistral Small 4.")
    parser.add_argument("--version", action=_Version, nargs=0, help="print the version and exit")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    review = commands.add_parser("review", help="review the current branch or a diff file")
    review.add_argument("--base", help="base ref (default: the remote's default branch, else main, else master)")
    review.add_argument("--diff-file", help="review this unified diff instead ('-' reads stdin)")
    review.add_argument("--dry-run", action="store_true", help="plan the batches and print them; call no model")
    review.add_argument("--format", choices=("text", "json"), default="text")
    review.add_argument("--fail-on", choices=("critical", "major", "minor", "nit"),
                        help="exit 1 when a comment this severe or worse is found")
    pull = commands.add_parser("pr", help="review a GitHub pull request and post the review")
    pull.add_argument("target", metavar="OWNER/REPO#N")
    pull.add_argument("--dry-run", action="store_true", help="plan and print; call no model and post nothing")
    pull.add_argument("--format", choices=("text", "json"), default="text")
    merge = commands.add_parser("mr", help="review a GitLab merge request and post the review")
    merge.add_argument("target", metavar="GROUP/PROJECT!N")
    merge.add_argument("--dry-run", action="store_true", help="plan and print; call no model and post nothing")
    merge.add_argument("--format", choices=("text", "json"), default="text")
    commands.add_parser("gitlab-ci", help="the GitLab CI job's entry point (reads the merge request pipeline's variables)")
    for sub in (review, pull, merge):
        sub.add_argument("--fail-on-unreviewed", action="store_true",
                         help="exit 1 when changed lines were left unreviewed (budget, size) or nothing was reviewed")
    commands.add_parser("action", help="the GitHub Action's entry point (reads the Actions environment)")
    server = commands.add_parser("serve", help="run the webhook server (gunicorn) and one job worker")
    server.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    server.add_argument("--port", type=int, default=8080)
    server.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    server.add_argument("--no-worker", action="store_true", help="do not start a job worker beside the server")
    server.add_argument("--dev", action="store_true",
                        help="use Flask's development server (plain-HTTP dashboard cookie)")
    server.add_argument("--insecure-no-signature", action="store_true",
                        help="accept unsigned webhooks (development only)")
    server.add_argument("--user", dest="run_as",
                        help="when started as root, run as this user (default: $MISTRAL_REVIEW_RUN_AS)")
    spend = commands.add_parser("spend", help="spend report from the server's ledger")
    spend.add_argument("--repo", metavar="OWNER/REPO", help="a GitHub repository or a GitLab project path")
    spend.add_argument("--pr", type=int, metavar="N", help="a pull request number or a merge request iid")
    spend.add_argument("--host", choices=("github", "gitlab"), help="only this host's reviews")
    spend.add_argument("--month", metavar="YYYY-MM")
    spend.add_argument("--format", choices=("text", "json", "csv"), default="text")
    jobs = commands.add_parser("worker", help="run a job worker alone")
    jobs.add_argument("--threads", type=int, default=1, help="jobs run at once in this process")
    from bot.evaluation.command import add_arguments as eval_arguments

    eval_arguments(commands.add_parser("eval", help="score review quality on seeded-problem and clean cases"))
    return parser


def _read_diff(args: argparse.Namespace, stdin: Any, settings: Settings, err: TextIO) -> tuple[bytes, Settings]:
    """Return the diff to review, and the settings with the repo's TOML from the base branch applied."""
    if args.diff_file == "-":
        return (stdin.buffer.read() if hasattr(stdin, "buffer") else stdin.read().encode()), settings
    if args.diff_file:
        try:
            return Path(args.diff_file).read_bytes(), settings
        except OSError as exc:
            raise UsageError(f"cannot read {args.diff_file}: {exc.strerror}") from None
    from bot.hosts.localgit import branch_diff, file_at
    from bot.review.repo_config import apply_repo_config

    diff, base = branch_diff(Path.cwd(), args.base)
    settings, problems, _ = apply_repo_config(lambda path: file_at(Path.cwd(), base, path), settings)
    for problem in problems:
        err.write(f"mistral-review: warning: {problem}\n")
    return diff, settings


def run_review_command(args: argparse.Namespace, env: Mapping[str, str], out: TextIO, err: TextIO,
                       stdin: Any) -> int:
    """Review a local diff and print the comments; return the exit code."""
    from bot.core.severity import Severity
    from bot.llm.tokens import default_counter
    from bot.review.engine import plan_review, run_review
    from bot.review.progress import progress_maker
    from bot.review.prompting import load_prompts
    from bot.review.report import coverage_of, exit_status, plan_json, plan_text, result_json, result_text

    diff, settings = _read_diff(args, stdin, Settings.from_env(env), err)
    try:
        files, too_large = parse_capped(diff)
    except DiffError as exc:
        raise UsageError(str(exc)) from None
    counter, prompts = default_counter(), load_prompts()
    plan = plan_review(files, settings, counter=counter, prompts=prompts, budget_left_usd=settings.budget_usd,
                       already_skipped=too_large)
    if args.dry_run:
        emit(out, args.format, lambda: plan_json(plan, settings.price), lambda: plan_text(plan, settings.price))
        return EXIT_OK
    from bot.llm.mistral import model_from_settings

    # nothing to send (an empty diff, every file skipped): no model is called, so no key is needed
    model = model_from_settings(settings) if plan.batches else cast("Model", None)
    with progress_maker(err, env)(len(plan.batches)) as progress:
        result = run_review(plan, model, settings, counter=counter, prompts=prompts,
                            budget_left_usd=settings.budget_usd, on_progress=progress.update)
    emit(out, args.format, lambda: result_json(result, settings.model), lambda: result_text(result))
    severe = bool(args.fail_on) and any(c.severity.at_least(Severity(args.fail_on)) for c in result.comments)
    return exit_status(coverage_of(result), severe=severe, fail_on_unreviewed=args.fail_on_unreviewed)


def run_pr_command(args: argparse.Namespace, env: Mapping[str, str], out: TextIO, err: TextIO) -> int:
    """Review one pull request (or, dry, print its plan); return the exit code."""
    import re

    from bot.hosts.github.client import client_from_env

    match = re.fullmatch(r"([\w.-]+/[\w.-]+)#([0-9]{1,10})", args.target)
    if not match:
        raise UsageError(f"expected OWNER/REPO#N, not {args.target!r}")
    client = client_from_env(env)
    return run_pull(client.pull(match[1], int(match[2])), client.identity(), args, env, out, err)


def run_mr_command(args: argparse.Namespace, env: Mapping[str, str], out: TextIO, err: TextIO) -> int:
    """Review one GitLab merge request (or, dry, print its plan); return the exit code."""
    import re

    from bot.hosts.gitlab.client import client_from_env
    from bot.hosts.gitlab.merge_request import MergeRequestHandle

    match = re.fullmatch(r"([\w.-]+(?:/[\w.-]+)+)!([0-9]{1,10})", args.target)
    if not match:
        raise UsageError(f"expected GROUP/PROJECT!N, not {args.target!r}")
    client = client_from_env(env)
    return run_pull(MergeRequestHandle(client, match[1], int(match[2])), client.identity(), args, env, out, err)


def run_spend_command(args: argparse.Namespace, env: Mapping[str, str], out: TextIO, err: TextIO) -> int:
    """Print totals per repo and per PR from the ledger (an empty report before the first review)."""
    import re

    from bot.hosts.github.urls import web_url
    from bot.server.settings import ServerSettings
    from bot.server.spend_report import build_report, report_csv, report_json, report_text
    from bot.server.startup import reach
    from bot.server.stats import budget_reader
    from bot.server.worker import open_ledger

    if args.month and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", args.month):
        raise UsageError(f"--month must be YYYY-MM, not {args.month!r}")
    if args.pr is not None and not args.repo:
        raise UsageError("--pr needs --repo")
    settings = ServerSettings.from_env(env)
    render = {"json": report_json, "csv": report_csv, "text": report_text}[args.format]
    if not settings.database_url and not (settings.data_dir / "ledger.db").exists():
        err.write(f"mistral-review: no ledger yet at {settings.data_dir / 'ledger.db'}: nothing reviewed so far\n")
        out.write(render(build_report([], [], month=args.month)).rstrip("\n") + "\n")
        return EXIT_OK
    ledger = reach(settings, lambda: open_ledger(settings))
    rows = ledger.reviews(repo=args.repo, pr_number=args.pr, month=args.month, host=args.host)
    calls = ledger.calls(repo=args.repo, pr_number=args.pr, month=args.month, host=args.host)
    report = build_report(rows, calls, month=args.month, budget=budget_reader(ledger, args.month),
                          github_web=web_url(settings.github_api_url))
    out.write(render(report).rstrip("\n") + "\n")
    return EXIT_OK


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None,
         out: TextIO | None = None, err: TextIO | None = None, stdin: Any = None) -> int:
    """Run the command line; return the exit code instead of raising."""
    env = os.environ if env is None else env
    out, err, stdin = out or sys.stdout, err or sys.stderr, stdin or sys.stdin
    try:
        args = build_parser().parse_args(argv)
        if args.command == "review":
            return run_review_command(args, env, out, err, stdin)
        if args.command == "pr":
            return run_pr_command(args, env, out, err)
        if args.command == "mr":
            return run_mr_command(args, env, out, err)
        if args.command == "gitlab-ci":
            from bot.gitlab_ci import main as gitlab_ci_main

            return gitlab_ci_main(env, out, err)
        if args.command in ("serve", "worker", "spend"):
            from bot.server import require_server_extra

            require_server_extra(args.command)
        if args.command == "serve":
            from bot.server.serve import serve

            return serve(env, host=args.host, port=args.port, workers=args.workers, no_worker=args.no_worker,
                         dev=args.dev, insecure_no_signature=args.insecure_no_signature,
                         run_as=args.run_as or env.get("MISTRAL_REVIEW_RUN_AS"))
        if args.command == "spend":
            return run_spend_command(args, env, out, err)
        if args.command == "worker":
            from bot.server.serve import worker

            return worker(env, threads=args.threads)
        if args.command == "eval":
            from bot.evaluation.command import run_eval_command

            return run_eval_command(args, env, out, err)
        if args.command == "action":
            missing = [name for name in ("GITHUB_EVENT_NAME", "GITHUB_EVENT_PATH") if not env.get(name)]
            if missing:
                raise UsageError(f"`action` runs inside a GitHub Actions job, and {' and '.join(missing)} "
                                 f"{'is' if len(missing) == 1 else 'are'} not set here; to review locally, "
                                 "run `mistral-review review`")
            from bot.action import main as action_main

            return action_main(env, out)
        raise UsageError(f"unknown command {args.command}")
    except (UsageError, ConfigError) as exc:
        err.write(f"mistral-review: error: {exc}\n")
        return EXIT_USAGE
    except ReviewError as exc:
        err.write(f"mistral-review: {exc}\n")
        return EXIT_PARTIAL
    except KeyboardInterrupt:
        err.write("mistral-review: interrupted\n")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
