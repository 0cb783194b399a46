"""`mistral-review eval`: score the configured model on the suite and print the report."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from bot.core.errors import UsageError
from bot.core.settings import Settings

EXIT_OK, EXIT_FAILED = 0, 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the eval subcommand's flags."""
    parser.add_argument("--cases", metavar="DIR", help="a folder of <id>.diff + <id>.toml cases (default: the shipped suite)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--model", help="model name (default: $MISTRAL_MODEL, else mistral-small-2603)")
    parser.add_argument("--server-url", help="OpenAI-compatible server, without /v1 (default: $MISTRAL_SERVER_URL)")
    parser.add_argument("--repeat", type=int, default=1, metavar="N", help="run the suite N times to see the spread")


def run_eval_command(args: argparse.Namespace, env: Mapping[str, str], out: TextIO, err: TextIO) -> int:
    """Run the suite through the real review flow; exit 3 when any case's model calls failed."""
    from bot.core.eval_scoring import score_case
    from bot.evaluation.report import failures, report_json, report_text
    from bot.evaluation.runner import run_suite
    from bot.evaluation.suite import load_cases
    from bot.llm.mistral import model_from_settings
    from bot.llm.tokens import default_counter
    from bot.review.progress import Progress, heartbeat_interval
    from bot.review.prompting import load_prompts

    if not 1 <= args.repeat <= 20:
        raise UsageError(f"--repeat must be between 1 and 20, not {args.repeat}")
    cases = load_cases(Path(args.cases) if args.cases else None)
    settings = Settings.from_env(env).with_values(
        {"model": args.model, "server_url": args.server_url.rstrip("/") if args.server_url else None})
    model = model_from_settings(settings)
    with Progress(err, verb="evaluating", noun="case", plural="case run(s)", total=len(cases) * args.repeat,
                  interval_s=heartbeat_interval(env)) as progress:
        runs = run_suite(cases, model, settings, counter=default_counter(), prompts=load_prompts(),
                         repeat=args.repeat, on_progress=progress.update)
    scores = [score_case(r) for r in runs]
    out.write((json.dumps(report_json(scores), indent=2) if args.format == "json" else report_text(scores)) + "\n")
    failed = failures(scores)
    if failed:
        err.write(f"mistral-review: {len(failed)} of {len(scores)} case run(s) failed and count as not found: "
                  f"{', '.join(sorted({f['id'] for f in failed}))}\n")
        return EXIT_FAILED
    return EXIT_OK
