"""Whether a pull request is reviewed at all: its state, draft, a bot author, a skip label."""

from __future__ import annotations

from bot.core.settings import Settings
from bot.review.ports import PullInfo, ReviewRequest


def pull_skip_reason(info: PullInfo, settings: Settings, request: ReviewRequest) -> str | None:
    """Return why this pull request is not reviewed at all, or None; only an explicit /review passes the opt-outs."""
    if info.state != "open":
        return f"the {info.noun} is {info.state}"
    if info.draft and not request.review_drafts:
        return f"the {info.noun} is a draft"
    if info.author_is_bot and not settings.review_bots and not request.explicit:
        return f"the author {info.author} is a bot"
    labels = sorted(set(info.labels) & set(settings.skip_labels))
    if labels and not request.explicit:
        return f"the {info.noun} is labelled {labels[0]}"
    return None
