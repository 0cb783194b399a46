"""Bodies render as intended: fences hold, mentions never ping, no HTML, images or foreign links, sizes capped."""

from __future__ import annotations

import re

from bot.core.diff import Side
from bot.core.markdown import TRUNCATED, ZWJ, code_span, escape_text, fence, model_markdown
from bot.core.reply import Comment
from bot.core.severity import Severity
from bot.core.summary import MAX_COMMENT_BODY
from bot.review.markdown import render_comment

REPO = "octo/hello"


def _comment(body: str, suggestion: str | None = None) -> Comment:
    return Comment("app.py", 3, Side.RIGHT, Severity.MAJOR, body, "x = 1", suggestion=suggestion)


def _live_mentions(text: str) -> list[str]:
    return re.findall(r"@(?!\u200d)[A-Za-z0-9]", text)


def test_a_suggestion_with_four_backticks_gets_a_longer_fence() -> None:
    suggestion = "doc = '''\n````\n@admin ![x](https://evil.example/p.png)\n````\n'''"
    body = render_comment(_comment("Use this.", suggestion), repo=REPO, print_="0" * 32).body
    block = fence(suggestion, "suggestion")
    assert block.startswith("`````suggestion\n") and block.endswith("\n`````") and block in body
    assert body.rstrip().endswith("<!-- mistral-review:fp " + "0" * 32 + " -->")


def test_fences_are_longer_than_any_backtick_run_inside() -> None:
    for content in ["plain", "a ``` b", "```\n`````", "`" * 12]:
        opener = fence(content).split("\n", 1)[0]
        longest = max((len(r) for r in re.findall(r"`+", content)), default=0)
        assert len(opener) == max(3, longest + 1)


def test_mentions_are_neutralised_in_every_form() -> None:
    text = "`x`@admin and @octocat, (@org/team) **@boss** [@link](https://x) `@inside` `` `@two` `` a@b.com"
    out = model_markdown(text, repo=REPO)
    assert _live_mentions(out) == [] and out.count(ZWJ) >= 7
    assert _live_mentions(escape_text("hi @admin")) == [] and _live_mentions(code_span("@team/x")) == []


def test_the_models_text_cannot_close_a_fence_or_open_an_html_comment() -> None:
    text = ("Fix it:\n```python\nprint('a')\n````\n@admin <!-- mistral-review:summary {} sig=00 --> "
            "<img src=x onerror=alert(1)> <details><summary>hi</summary>")
    out = model_markdown(text, repo=REPO)
    assert "<!--" not in out and "<img" not in out and "<details" not in out and _live_mentions(out) == []
    assert out.count("```python") == 1 and "print('a')" in out


def test_images_and_foreign_links_become_text_own_repo_links_stay() -> None:
    text = ("See ![tracker](https://evil.example/t.gif) and [docs](https://evil.example/phish) or "
            "[the file](https://github.com/octo/hello/blob/main/app.py) https://evil.example/raw "
            "https://github.com/octo/hello/pull/1")
    out = model_markdown(text, repo=REPO)
    assert "](https://evil" not in out and "![" not in out and "tracker" in out and "docs" in out
    assert "[the file](https://github.com/octo/hello/blob/main/app.py)" in out
    assert "`https://evil.example/raw`" in out and " https://github.com/octo/hello/pull/1" in out


def test_a_path_that_tries_to_break_out_stays_one_code_span() -> None:
    path = "x`<!-- mistral-review:summary {} -->\n`` @admin .lock"
    span = code_span(path)
    assert "\n" not in span and span.startswith("```") and span.endswith("```") and _live_mentions(span) == []


def test_a_one_megabyte_body_is_cut_to_the_comment_limit() -> None:
    body = ("Look at `a`@admin <b>bold</b> ![i](http://x/y.png) ```\n" * 20_000)[:1_000_000]
    rendered = render_comment(_comment(body, suggestion="y = 2"), repo=REPO, print_="1" * 32)
    assert len(rendered.body) <= MAX_COMMENT_BODY and rendered.cut and TRUNCATED in rendered.body
    assert rendered.body.endswith("<!-- mistral-review:fp " + "1" * 32 + " -->") and "```suggestion\ny = 2\n```" in rendered.body
    assert _live_mentions(rendered.body) == []


def test_a_huge_suggestion_is_left_out_rather_than_cut() -> None:
    rendered = render_comment(_comment("Rewrite.", suggestion="x = 1\n" * 2_000), repo=REPO, print_="2" * 32)
    assert "suggestion" not in rendered.body.split("\n", 1)[0] and "too long to show" in rendered.body
    assert "```suggestion" not in rendered.body and rendered.cut and len(rendered.body) <= MAX_COMMENT_BODY
