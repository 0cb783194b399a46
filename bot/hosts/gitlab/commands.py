"""A `/review` note on a merge request: who may ask, and the 👀 that says the bot heard it."""

from __future__ import annotations

import logging

from bot.hosts.gitlab.client import GitLabError
from bot.hosts.gitlab.merge_request import MergeRequestHandle

DEVELOPER = 30  # GitLab's access levels: 10 guest, 20 reporter, 30 developer, 40 maintainer, 50 owner
log = logging.getLogger(__name__)


def accept_review_command(mr: MergeRequestHandle, user_id: int | None, note_id: int) -> str | None:
    """Award 👀 to the note and return None when its author has Developer access or more; else say why not.

    The access check is every attempt's (a retried job checks again); the award is a courtesy: a failed one
    (GitLab refuses a second identical award) is logged, never a reason to refuse the review.
    """
    level = mr.access_level(user_id) if user_id is not None else 0
    if level < DEVELOPER:
        return f"user {user_id} has access level {level}, below Developer; /review ignored"
    try:
        mr.award(note_id, "eyes")
    except GitLabError as exc:
        log.warning("could not award 👀 to note %s: %s", note_id, exc)
    return None
