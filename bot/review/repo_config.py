"""Which of the repo's config files a run reads (from the base branch, never the head), and the settings it gives."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from bot.core.diff import decode
from bot.core.settings import REPO_CONFIG_PATHS, Settings, check_model, parse_repo_config
from bot.core.sizecaps import DEFAULT_CAPS, TooLarge
from bot.review.ports import PullInfo, PullPort, ReviewRequest


@dataclass(frozen=True)
class RepoConfig:
    """The config file a run uses: its path and bytes (None when there is none, or it is over the cap), and notes."""

    path: str | None
    text: bytes | None
    notes: tuple[str, ...] = ()


def find_repo_config(read: Callable[[str], bytes | None], *, cap: int = DEFAULT_CAPS.blob_bytes) -> RepoConfig:
    """Look for the config files in their documented order; the first found is used, and a note says so when more exist.

    `read` returns a file's bytes (None when absent) and raises TooLarge, unfetched, for one over `cap` bytes.
    """
    found: list[str] = []
    text: bytes | None = None
    notes: list[str] = []
    for path in REPO_CONFIG_PATHS:
        try:
            data = read(path)
        except TooLarge as exc:
            if not found:
                notes.append(f"{path} is {exc.size:,} bytes, over the {cap:,}-byte cap: the defaults were used.")
            found.append(path)
            continue
        if data is not None:
            text = data if not found else text
            found.append(path)
    if len(found) > 1:
        notes.append(f"{found[0]} was used and {', '.join(found[1:])} ignored: the first of "
                     f"{', '.join(REPO_CONFIG_PATHS)} found wins.")
    return RepoConfig(found[0] if found else None, text, tuple(notes))


def apply_repo_config(read: Callable[[str], bytes | None], base: Settings) -> tuple[Settings, list[str], str | None]:
    """Apply the first config file found to `base`; return the settings, the notes and problems, and the file used."""
    config = find_repo_config(read)
    settings, notes = base, list(config.notes)
    if config.path is not None and config.text is not None:
        settings, problems = parse_repo_config(decode(config.text), base, path=config.path)
        notes.extend(problems)
    return settings, notes, config.path


def effective_settings(pr: PullPort, info: PullInfo, base: Settings,
                       request: ReviewRequest) -> tuple[Settings, list[str], str]:
    """Apply the repo's TOML from the base branch (never the head), then the run's overrides and caps.

    Returns the settings, the notes for the summary and the config file read (else the first place looked).
    """
    settings, notes, used = apply_repo_config(lambda path: pr.file_text(path, info.base_sha, max_bytes=DEFAULT_CAPS.blob_bytes),
                                              base)
    settings = settings.with_values(request.overrides)
    settings, refused = check_model(settings, configured=str(request.overrides.get("model") or base.model),
                                    source=used or REPO_CONFIG_PATHS[0])
    notes.extend([refused] if refused else [])
    if request.budget_cap_usd is not None and settings.budget_usd > request.budget_cap_usd:
        settings = replace(settings, budget_usd=request.budget_cap_usd)
    return settings, notes, used or REPO_CONFIG_PATHS[0]
