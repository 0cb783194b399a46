"""What a posted body would show, read back with GitHub's own Markdown parser (cmark-gfm, through cmarkgfm).

`live_problems(markdown, base)` renders a body with the extensions GitHub turns on (autolinks, tables,
strikethrough) and raw HTML let through, then lists everything a reader would see live that the bot must
never post: an image, raw HTML, a link outside the repository at `base`, a mention, a URL another host
(GitLab) would autolink, a control or bidi character.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import unquote

import cmarkgfm
from cmarkgfm.cmark import Options

MARKDOWN_TAGS = {"p", "a", "code", "pre", "em", "strong", "del", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol",
                 "li", "blockquote", "hr", "br", "table", "thead", "tbody", "tr", "th", "td"}
INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
MENTION = re.compile(r"@[A-Za-z0-9_-]")
AUTOLINKED = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://|www\.", re.I)


def _inside(href: str, base: str) -> bool:
    """Return whether a link, read as a browser reads it, stays under `base` (no `..` after decoding)."""
    decoded = unquote(unquote(href)).replace("\\", "/")
    if any(seg in (".", "..") for seg in decoded.split("?")[0].split("#")[0].split("/")):
        return False
    return bool(base) and href.lower().startswith(base.lower())


class _Reader(HTMLParser):
    def __init__(self, base: str) -> None:
        super().__init__(convert_charrefs=True)
        self.base, self.stack, self.problems = base, [], []  # type: tuple[str, list[str], list[str]]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in MARKDOWN_TAGS:
            self.problems.append(f"raw HTML or image <{tag}>")
        if tag == "a" and not _inside(dict(attrs).get("href") or "", self.base):
            self.problems.append(f"link outside the repository: {dict(attrs).get('href')}")
        if tag not in ("br", "hr"):
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.stack:
            del self.stack[len(self.stack) - 1 - self.stack[::-1].index(tag):]

    def handle_comment(self, data: str) -> None:
        self.problems.append("an HTML comment")

    def handle_data(self, data: str) -> None:
        if {"code", "pre"} & set(self.stack):
            return
        if MENTION.search(data):
            self.problems.append(f"a live mention in {data!r}")
        if "a" not in self.stack and AUTOLINKED.search(data):
            self.problems.append(f"a URL another host would autolink in {data!r}")


def live_problems(markdown: str, base: str) -> list[str]:
    """Return what a reader would see live in this body that the bot must never post (empty when none)."""
    problems = [f"invisible character {c!r}" for c in INVISIBLE.findall(markdown)]
    rendered = cmarkgfm.markdown_to_html_with_extensions(
        markdown, options=Options.CMARK_OPT_UNSAFE, extensions=["table", "autolink", "strikethrough"])
    reader = _Reader(base)
    reader.feed(rendered)
    reader.close()
    return problems + reader.problems
