"""The sanitiser's promise for any string, read back with GitHub's own parser (tests/markdownoracle.py).

For any text (the model's, a PR's) the Markdown the bot posts has no live mention, no image, no raw HTML, no
link outside the PR's repository (inline, reference, autolink, bare www or URL), no NUL, control or bidi
character, stays within its size limit, and rendering it never raises.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.markdown import code_span, escape_text, model_markdown
from tests.markdownoracle import live_problems

GITHUB = "https://github.com/octo/hello/"
GITLAB = "https://gitlab.example.com/acme/platform/api/"
FRAGMENTS = [
    "@admin", "@org/team", "&#64;admin", "&commat;root", "&#x40;ops", "&amp;#64;x", "a@b.example", "mailto:a@b.example",
    "<img src=x onerror=alert(1)>", "<b>", "</b>", "<details>", "<!--", "-->", "<https://evil.example>", "<", ">", "&",
    "![t](https://evil.example/t.gif)", "![o](https://github.com/octo/hello/raw/main/a.png)", "[", "]", "(", ")", "](",
    "[x]: https://evil.example", "[x]", "[^1]", "https://evil.example/p", "HTTPS://EVIL.example", "http://", "ftp://e.x",
    "www.evil.example/login", "WWW.", "www", ".evil.example", "javascript:alert(1)", "https://github.com/octo/hello/",
    "https://github.com/octo/hello/../../attacker/", "%2e%2e/", "%2E%2E/", "..", "/", "\\", "\\.", "&#46;",
    "https://gitlab.example.com/acme/platform/api/-/blob/main/a.py", "https://github.com@evil.example/",
    "[own](https://github.com/octo/hello/a.py)", "[gl](https://gitlab.example.com/acme/platform/api/-/issues/1)",
    "`", "``", "```", "~~~", "```suggestion", "| a | b |\n|---|---|\n", "|", "---", "\n", "\n\n", " ", "    ", "\t",
    "> ", "- ", "* ", "# ", "_", "*", "~", ":", ";", "!", "#1", "o/r#1", "g/p!2", "x", "1",
    "\u202e", "\u2066", "\u200f", "\u061c", "\x00", "\x001\x00", "\x07", "\x1b[31m", "\r", "\u2028", "\u0085",
]
TEXT = st.one_of(st.text(max_size=300),
                 st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=4)), max_size=60).map("".join))
LIMITS = st.sampled_from([60, 200, 1_500, 4_000])
BASES = st.sampled_from([GITHUB, GITLAB, ""])


@settings(max_examples=250, deadline=None)
@given(text=TEXT, base=BASES, limit=LIMITS)
def test_model_text_renders_with_nothing_live_within_its_limit(text: str, base: str, limit: int) -> None:
    out = model_markdown(text, base=base, limit=limit)
    assert len(out) <= limit
    assert live_problems(out, base) == [], (text, out)


@settings(max_examples=150, deadline=None)
@given(text=TEXT, base=BASES, limit=LIMITS)
def test_one_line_model_text_stays_on_one_line_with_nothing_live(text: str, base: str, limit: int) -> None:
    out = model_markdown(text, base=base, limit=limit, inline=True)
    assert len(out) <= limit and "\n" not in out
    assert live_problems(out, base) == [], (text, out)


@settings(max_examples=150, deadline=None)
@given(text=TEXT)
def test_names_and_notes_render_as_inert_text(text: str) -> None:
    for out in (escape_text(text), code_span(text)):
        assert "\n" not in out and "<!--" not in out
        assert live_problems(out, "") == [], (text, out)
