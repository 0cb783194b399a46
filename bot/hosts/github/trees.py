"""A commit's files and their blob ids, read from its tree: how files past the 300 that GitHub's compare
lists are found."""

from __future__ import annotations

from github import GithubException
from github.Repository import Repository


def tree_blobs(repo: Repository, sha: str) -> dict[str, str] | None:
    """Return path -> blob sha of every file in a commit; None when the tree is gone or too large to list whole."""
    try:
        tree = repo.get_git_tree(sha, recursive=True)
    except GithubException as exc:
        if exc.status in (404, 409, 422):
            return None
        raise
    if tree.raw_data.get("truncated"):
        return None
    return {entry.path: entry.sha for entry in tree.tree if entry.type == "blob"}
