"""Review one pull or merge request from the command line (`pr`, `mr`, `gitlab-ci`) and print the outcome.

Beside bot/cli.py, not in it, so that the GitLab CI entry point and the command line share it without importing
each other.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TextIO

from bot.core.marker import derive_key
from bot.core.settings import Settings

if TYPE_CHECKING:
    from bot.review.ports import PullPort, ReviewRequest

EXIT_OK = 0


def emit(out: TextIO, fmt: str, as_json: Callable[[], Any], as_text: Callable[[], str]) -> None:
    """Print a result as indented JSON or as text for people."""
    out.write((json.dumps(as_json(), indent=2) if fmt == "json" else as_text()) + "\n")



def run_pull(pr: PullPort, identity: str, args: argparse.Namespace, env: Mapping[str, str], out: TextIO,
             err: TextIO, request: ReviewRequest | None = None) -> int:
    """Review a pull or merge request through its host's handle (or, dry, print its plan)."""
    import uuid

    from bot.llm.mistral import model_from_settings
    from bot.llm.tokens import default_counter
    from bot.review.engine import plan_review
    from bot.review.ports import Outcome, ReviewRequest
    from bot.review.progress import progress_maker
    from bot.review.prompting import load_prompts
    from bot.review.pull_flow import review_pull
    from bot.review.pull_scope import prepare
    from bot.review.report import exit_status, outcome_json, outcome_text, plan_json, plan_text

    settings = Settings.from_env(env)
    request = request or ReviewRequest(run_id=uuid.uuid4().hex[:12])
    if not request.marker_key:  # signs the PR's state; only the operator's MISTRAL_API_KEY can reproduce it
        request = replace(request, marker_key=derive_key(settings.api_key or ""))
    counter, prompts = default_counter(), load_prompts()
    if args.dry_run:
        ready = prepare(pr, identity=identity, base_settings=settings, request=request)
        if isinstance(ready, Outcome):
            emit(out, args.format, lambda: outcome_json(ready), lambda: outcome_text(ready))
            return EXIT_OK
        plan = plan_review(ready.files, ready.settings, counter=counter, prompts=prompts,
                           budget_left_usd=ready.budget_left_usd,
                           already_skipped=ready.listed_skips)
        price = ready.settings.price
        emit(out, args.format, lambda: plan_json(plan, price), lambda: plan_text(plan, price))
        return EXIT_OK
    outcome = review_pull(pr, identity=identity, base_settings=settings, model_for=model_from_settings,
                          counter=counter, prompts=prompts, request=replace(request, progress=progress_maker(err, env)))
    emit(out, args.format, lambda: outcome_json(outcome), lambda: outcome_text(outcome))
    # gitlab-ci builds its own arguments, without the flag
    return exit_status(outcome.coverage, severe=False, fail_on_unreviewed=getattr(args, "fail_on_unreviewed", False))
