"""Bodies render as intended: fences hold, mentions never ping, no HTML, images or foreign links, sizes capped."""

from __future__ import annotations

import re

import cmarkgfm

from bot.core.diff import Side
from bot.core.links import link_base
from bot.core.markdown import TRUNCATED, ZWJ, code_span, escape_text, fence, model_markdown
from bot.core.reply import Comment
from bot.core.severity import Severity
from bot.core.summary import MAX_COMMENT_BODY
from bot.hosts.github.urls import web_url
from bot.review.markdown import render_comment, unplaced_line
from tests.markdownoracle import live_problems

BASE = "https://github.com/octo/hello/"


def _comment(body: str, suggestion: str | None = None) -> Comment:
    return Comment("app.py", 3, Side.RIGHT, Severity.MAJOR, body, "x = 1", suggestion=suggestion)


def _live_mentions(text: str) -> list[str]:
    return re.findall(r"@(?!\u200d)[A-Za-z0-9]", text)


def test_a_suggestion_with_four_backticks_gets_a_longer_fence() -> None:
    suggestion = "doc = '''\n````\n@admin ![x](https://evil.example/p.png)\n````\n'''"
    body = render_comment(_comment("Use this.", suggestion), base=BASE, print_="0" * 32).body
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
    out = model_markdown(text, base=BASE)
    assert _live_mentions(out) == [] and out.count(ZWJ) >= 7
    assert _live_mentions(escape_text("hi @admin")) == [] and _live_mentions(code_span("@team/x")) == []


def test_the_models_text_cannot_close_a_fence_or_open_an_html_comment() -> None:
    text = ("Fix it:\n```python\nprint('a')\n````\n@admin <!-- mistral-review:summary {} sig=00 --> "
            "<img src=x onerror=alert(1)> <details><summary>hi</summary>")
    out = model_markdown(text, base=BASE)
    assert "<!--" not in out and "<img" not in out and "<details" not in out and _live_mentions(out) == []
    assert out.count("```python") == 1 and "print('a')" in out


def test_images_and_foreign_links_become_text_own_repo_links_stay() -> None:
    text = ("See ![tracker](https://evil.example/t.gif) and [docs](https://evil.example/phish) or "
            "[the file](https://github.com/octo/hello/blob/main/app.py) https://evil.example/raw "
            "https://github.com/octo/hello/pull/1")
    out = model_markdown(text, base=BASE)
    assert "](https://evil" not in out and "![" not in out and "tracker" in out and "docs" in out
    assert "[the file](https://github.com/octo/hello/blob/main/app.py)" in out
    assert "`https://evil.example/raw`" in out
    assert " [https://github.com/octo/hello/pull/1](https://github.com/octo/hello/pull/1)" in out


def test_a_path_that_tries_to_break_out_stays_one_code_span() -> None:
    path = "x`<!-- mistral-review:summary {} -->\n`` @admin .lock"
    span = code_span(path)
    assert "\n" not in span and span.startswith("```") and span.endswith("```") and _live_mentions(span) == []


def test_a_one_megabyte_body_is_cut_to_the_comment_limit() -> None:
    body = ("Look at `a`@admin <b>bold</b> ![i](http://x/y.png) ```\n" * 20_000)[:1_000_000]
    rendered = render_comment(_comment(body, suggestion="y = 2"), base=BASE, print_="1" * 32)
    assert len(rendered.body) <= MAX_COMMENT_BODY and rendered.cut and TRUNCATED in rendered.body
    assert rendered.body.endswith("<!-- mistral-review:fp " + "1" * 32 + " -->") and "```suggestion\ny = 2\n```" in rendered.body
    assert _live_mentions(rendered.body) == []


def test_a_huge_suggestion_is_left_out_rather_than_cut() -> None:
    rendered = render_comment(_comment("Rewrite.", suggestion="x = 1\n" * 2_000), base=BASE, print_="2" * 32)
    assert "suggestion" not in rendered.body.split("\n", 1)[0] and "too long to show" in rendered.body
    assert "```suggestion" not in rendered.body and rendered.cut and len(rendered.body) <= MAX_COMMENT_BODY


def test_a_nul_placeholder_in_the_reply_is_text_not_a_crash() -> None:
    text = "Bad \x000\x00 and \x001\x00 [own](https://github.com/octo/hello/a.py) \x0012\x00\x07\x1b[31m x"
    out = model_markdown(text, base=BASE)
    assert "\x00" not in out and "\x07" not in out and "\x1b" not in out
    assert out == "Bad 0 and 1 [own](https://github.com/octo/hello/a.py) 12\\[31m x"


def _links(markdown: str) -> list[str]:
    return re.findall(r'href="([^"]*)"', cmarkgfm.github_flavored_markdown_to_html(markdown))


def test_links_out_of_the_repository_do_not_survive_in_any_spelling() -> None:
    base = "https://github.com/octo/demo/"
    text = ("Log in at www.evil.example/login or WWW.EVIL.example, see HTTPS://evil.example/a, "
            "[up](https://github.com/octo/demo/../../attacker/x), https://github.com/octo/demo/../../attacker/y "
            "[enc](https://github.com/octo/demo/%2e%2e/%2E%2E/attacker/z) https://github.com/octo/demo/%2E%2E/%2e%2e/a/b "
            "[slash](https://github.com/octo/demo/..\\attacker) [pct](https://github.com/octo/demo/..%5C..%2Fattacker) "
            "[esc](https://github.com/octo/demo/\\.\\./\\.\\./x) "
            "[ent](https://github.com/octo/demo/&#46;&#46;/&#x2e;&#x2e;/x) [at](https://github.com@evil.example/octo/demo/) "
            "[rel](../../attacker) [js](javascript:alert(1)) [mail](mailto:a@evil.example) <https://evil.example/auto> "
            "[ok](HTTPS://GitHub.com/octo/demo/blob/main/a.py#L3)")
    out = model_markdown(text, base=base)
    assert live_problems(out, base) == []
    assert _links(out) == ["https://github.com/octo/demo/blob/main/a.py#L3"]
    assert "`www.evil.example/login`" in out and "`HTTPS://evil.example/a`" in out


def test_a_link_that_only_passes_through_the_repository_is_kept_normalised() -> None:
    out = model_markdown("[f](https://github.com/octo/demo/blob/x/../main/%2e/a.py?plain=1&x=2)",
                         base="https://github.com/octo/demo/")
    assert _links(out) == ["https://github.com/octo/demo/blob/main/a.py?plain=1&amp;x=2"]


def test_mentions_written_as_entities_are_neutralised() -> None:
    text = "Ask &#64;admin, &commat;root, &#x40;ops, &#X40;sec, &amp;#64;kept or `&#64;code`; mail a&#64;b.example"
    out = model_markdown(text, base=BASE)
    assert live_problems(out, BASE) == [] and out.count("@" + ZWJ) == 5
    assert "&amp;#64;kept" in out and "`&#64;code`" in out


def test_bidi_and_control_characters_are_dropped_from_paths_and_text() -> None:
    bidi = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
    path = f"src/evil{bidi}\x00txt.py"
    assert code_span(path) == "`src/eviltxt.py`" and escape_text(f"a{bidi}b") == "ab"
    assert model_markdown(f"Check{bidi} this\x00.\n```py\nx = 1{bidi}\n```", base=BASE) == "Check this.\n```py\nx = 1\n```"
    rendered = render_comment(_comment("Fine.", suggestion=f"x = 2{bidi}"), base=BASE, print_="3" * 32)
    assert "```suggestion" not in rendered.body and "invisible control characters" in rendered.body


def test_links_are_judged_against_the_host_the_review_is_on() -> None:
    gitlab = link_base("https://gitlab.example.com/", "acme/platform/api")
    text = ("[mr](https://gitlab.example.com/acme/platform/api/-/merge_requests/3) "
            "https://gitlab.example.com/acme/platform/api/-/blob/main/a.py#L2 "
            "[gh](https://github.com/acme/platform/api/blob/main/a.py) [sibling](https://gitlab.example.com/acme/platform/apix/x)")
    out = model_markdown(text, base=gitlab)
    assert _links(out) == ["https://gitlab.example.com/acme/platform/api/-/merge_requests/3",
                           "https://gitlab.example.com/acme/platform/api/-/blob/main/a.py#L2"]
    enterprise = link_base(web_url("https://ghe.example.com/api/v3"), "octo/demo")
    assert enterprise == "https://ghe.example.com/octo/demo/"
    out = model_markdown("[a](https://ghe.example.com/octo/demo/a.py) [b](https://github.com/octo/demo/a.py)", base=enterprise)
    assert _links(out) == ["https://ghe.example.com/octo/demo/a.py"]
    assert web_url("https://api.github.com") == "https://github.com/" and model_markdown("[x](https://github.com/o/r/)") == "x"


def test_a_cut_never_leaves_a_code_span_or_a_link_open() -> None:
    for size in range(40, 140, 7):
        text = "word " * 5 + "`<img src=x onerror=alert(1)>` [own](https://github.com/octo/hello/" + "a" * 60 + ") " * 3
        out = model_markdown(text * 3, base=BASE, limit=size)
        assert len(out) <= size and out.endswith(TRUNCATED) and live_problems(out, BASE) == []


def test_an_unplaced_line_is_one_sanitised_line() -> None:
    body = "See ![x](https://evil.example/p.png) [docs](https://evil.example) &#64;admin\n```\n<b>x</b>\n```"
    line = unplaced_line(_comment(body), BASE)
    assert "\n" not in line and line.startswith("- `app.py` line 3 (new), **major**: ") and live_problems(line, BASE) == []
