"""Both hosts implement the whole port the review flow uses, with the same parameters."""

from __future__ import annotations

import inspect

import pytest

from bot.hosts.github.client import PullRequestHandle
from bot.hosts.gitlab.merge_request import MergeRequestHandle
from bot.review.ports import PullPort

PORT = {name: inspect.signature(member) for name, member in vars(PullPort).items()
        if callable(member) and not name.startswith("_")}


def test_the_port_is_small_and_names_what_the_flow_needs() -> None:
    assert set(PORT) == {"info", "files", "file_text", "compare", "review_comments", "issue_comments", "post_review",
                         "upsert_comment", "may_request_review", "acknowledge"}


@pytest.mark.parametrize("handle", [PullRequestHandle, MergeRequestHandle])
def test_each_host_implements_every_method_of_the_port(handle: type) -> None:
    for name, wanted in PORT.items():
        method = getattr(handle, name, None)
        assert callable(method), f"{handle.__name__} lacks {name}"
        assert list(inspect.signature(method).parameters) == list(wanted.parameters), (handle.__name__, name)
