"""`mistral-review eval`: score the configured model (or a blind baseline) on the suite and print the report."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from bot.core.errors import UsageError
from bot.core.eval_baselines import REVIEWERS
from bot.core.guidance import RULES_CHARS
from bot.core.settings import ConfigError, Settings
from bot.core.severity import Severity
from bot.core.tomlfile import TomlError, load_toml

if TYPE_CHECKING:
    from bot.core.eval_scoring import CaseRun
    from bot.evaluation.suite import Case
    from bot.review.progress import Progress

EXIT_OK, EXIT_FAILED = 0, 3
CONFIRM_USD = 0.50  # a plan that may cost more runs only with --yes
INSTRUCTIONS_BYTES = 64 * 1024


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the eval subcommand's flags."""
    parser.add_argument("--cases", metavar="DIR", help="a folder of <id>.diff + <id>.toml cases (default: the shipped suite)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--model", help="model name (default: $MISTRAL_MODEL, else mistral-small-2603)")
    parser.add_argument("--server-url", help="OpenAI-compatible server, without /v1 (default: $MISTRAL_SERVER_URL)")
    parser.add_argument("--repeat", type=int, default=1, metavar="N", help="run the suite N times to see the spread")
    parser.add_argument("--reviewer", choices=REVIEWERS,
                        help="score a location-blind baseline instead of the model (no key, no network)")
    parser.add_argument("--min-severity", choices=[s.value for s in Severity],
                        help="lowest severity the review keeps (default: $MISTRAL_REVIEW_MIN_SEVERITY, else minor)")
    parser.add_argument("--instructions", metavar="FILE",
                        help="a TOML file with [[paths]] (and/or instructions), or plain text for every path")
    parser.add_argument("--yes", action="store_true", help=f"go ahead when the plan may cost more than ${CONFIRM_USD:.2f}")


def instruction_values(text: str) -> dict[str, Any]:
    """Return the settings an `--instructions` file gives: its `[[paths]]` and `instructions` if TOML, else the text."""
    if not text.strip():
        raise UsageError("--instructions: the file is empty")
    try:
        data = load_toml(text, max_bytes=INSTRUCTIONS_BYTES)
    except TomlError:  # not TOML (or nested past reading): plain text
        data = None
    if data is None:  # plain text: the repo config's `instructions`, sent with every batch
        if len(text.strip()) > RULES_CHARS:
            raise UsageError(f"--instructions: plain text is over the {RULES_CHARS:,} characters cap")
        return {"instructions": text.strip()}
    if not data or set(data) - {"paths", "instructions"}:
        unknown = ", ".join(sorted(set(data) - {"paths", "instructions"})) or "nothing"
        raise UsageError(f"--instructions: a TOML file holds [[paths]] and/or instructions, not {unknown}")
    return data


def _read_instructions(name: str) -> dict[str, Any]:
    try:
        with open(name, "rb") as handle:
            raw = handle.read(INSTRUCTIONS_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"--instructions: cannot read {name} ({exc.strerror})") from None
    if len(raw) > INSTRUCTIONS_BYTES:
        raise UsageError(f"--instructions: {name} is over {INSTRUCTIONS_BYTES // 1024} KB")
    try:
        return instruction_values(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise UsageError(f"--instructions: {name} is not UTF-8 text") from None


def _settings(args: argparse.Namespace, env: Mapping[str, str]) -> Settings:
    settings = Settings.from_env(env).with_values({
        "model": args.model, "server_url": args.server_url.rstrip("/") if args.server_url else None,
        "min_severity": args.min_severity})
    if not args.instructions:
        return settings
    try:
        return settings.with_values(_read_instructions(args.instructions))
    except ConfigError as exc:
        raise UsageError(f"--instructions: {exc}") from None


def run_eval_command(args: argparse.Namespace, env: Mapping[str, str], out: TextIO, err: TextIO) -> int:
    """Run the suite (or a blind baseline) and print the report; exit 3 when any case's model calls failed."""
    from bot.core.eval_baselines import baselines, blind_scores
    from bot.core.eval_scoring import score_case, totals
    from bot.evaluation.report import failures, report_json, report_text
    from bot.evaluation.suite import load_cases
    from bot.review.progress import progress_maker

    if not 1 <= args.repeat <= 20:
        raise UsageError(f"--repeat must be between 1 and 20, not {args.repeat}")
    if args.reviewer and args.repeat != 1:
        raise UsageError("--repeat is for a model: a blind reviewer gives the same answer every run")
    cases = load_cases(Path(args.cases) if args.cases else None)
    settings = _settings(args, env)
    pairs = [(c.spec, c.files) for c in cases]
    if args.reviewer:
        scores = blind_scores(args.reviewer, pairs, ignore=settings.ignore)
    else:
        scores = [score_case(r) for r in _run_model(cases, settings, args, err, progress_maker(
            err, env, verb="evaluating", noun="case", plural="case run(s)"))]
    blind = baselines(pairs, totals(scores), ignore=settings.ignore)
    out.write((json.dumps(report_json(scores, blind), indent=2) if args.format == "json"
               else report_text(scores, blind)) + "\n")
    failed = failures(scores)
    if failed:
        err.write(f"mistral-review: {len(failed)} of {len(scores)} case run(s) failed and count as not found: "
                  f"{', '.join(sorted({f['id'] for f in failed}))}\n")
        return EXIT_FAILED
    return EXIT_OK


def _run_model(cases: list[Case], settings: Settings, args: argparse.Namespace, err: TextIO,
               progress: Callable[[int], Progress]) -> list[CaseRun]:
    """Plan every case, print the plan's most it can cost (refused above CONFIRM_USD without --yes), then run."""
    from bot.evaluation.runner import plan_suite, run_suite
    from bot.llm.mistral import model_from_settings
    from bot.llm.tokens import default_counter
    from bot.review.prompting import load_prompts

    counter, prompts = default_counter(), load_prompts()
    planned = plan_suite(cases, settings, counter=counter, prompts=prompts)
    requests = sum(len(p.plan.batches) for p in planned) * args.repeat
    tokens = sum(b.input_tokens for p in planned for b in p.plan.batches) * args.repeat
    most = sum(p.max_cost_usd for p in planned) * args.repeat
    line = (f"plan: {len(cases)} case(s) x {args.repeat} run(s) with {settings.model}: {requests} request(s), "
            f"{tokens:,} input tokens, {settings.output_tokens:,} output tokens reserved each; at most ${most:.4f}")
    if most > CONFIRM_USD and not args.yes:
        raise UsageError(f"{line}, over ${CONFIRM_USD:.2f}: nothing was sent; run again with --yes to go ahead")
    err.write(line + "\n")
    model = model_from_settings(settings)
    with progress(len(cases) * args.repeat) as shown:
        return run_suite(planned, model, counter=counter, prompts=prompts, concurrency=settings.concurrency,
                         repeat=args.repeat, on_progress=shown.update)
