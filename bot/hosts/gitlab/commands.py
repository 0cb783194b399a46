"""A `/review` note on a merge request: who may ask for a review (Developer access or more)."""

from __future__ import annotations

from bot.hosts.gitlab.merge_request import DEVELOPER, MergeRequestHandle


def review_refusal(mr: MergeRequestHandle, user_id: int | None) -> str | None:
    """Return why this user may not ask for a review of the MR (below Developer, or no author named), else None.

    Raises GitLabError when GitLab cannot say; the caller then refuses (fail closed).
    """
    level = mr.access_level(user_id) if user_id is not None else 0
    if level < DEVELOPER:
        return f"user {user_id} has access level {level}, below Developer; /review ignored"
    return None
