"""A `/review` note on a merge request: who may ask, and the 👀 that says the bot heard it."""

from __future__ import annotations

from bot.hosts.gitlab.merge_request import MergeRequestHandle

DEVELOPER = 30  # GitLab's access levels: 10 guest, 20 reporter, 30 developer, 40 maintainer, 50 owner


def accept_review_command(mr: MergeRequestHandle, user_id: int | None, note_id: int) -> str | None:
    """Award 👀 to the note and return None when its author has Developer access or more; else say why not."""
    level = mr.access_level(user_id) if user_id is not None else 0
    if level < DEVELOPER:
        return f"user {user_id} has access level {level}, below Developer; /review ignored"
    mr.award(note_id, "eyes")
    return None
