"""Markdown that renders as intended whatever text it carries. Pure.

Everything a PR or the model wrote (paths, titles, notes, comment text) goes through one of these before it
reaches a bot comment: it cannot open an HTML comment (the bot's marker), close a fence early, mention anyone,
show an image, or link away from the PR's own repository.
"""

from __future__ import annotations

import re

TRUNCATED = "…(truncated)"
ZWJ = "\u200d"

_MENTION = re.compile(r"@(?=[A-Za-z0-9])")
_FENCE_OPEN = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})(?P<info>[^\n]*)$")
_CODE_SPAN = re.compile(r"(?<!`)(?P<ticks>`{1,16})(?!`)(?P<code>.{1,500}?)(?<!`)(?P=ticks)(?!`)")
_HTML_COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.S)
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]{0,40}(?:\s[^<>]{0,500})?/?>|<[!?][^<>]{0,500}>")
_IMAGE = re.compile(r"!\[(?P<alt>[^\]\n]{0,500})\]\([^)\n]{0,2000}\)")
_LINK = re.compile(r"\[(?P<text>[^\]\n]{0,500})\]\((?P<url>[^)\s]{0,2000})(?:\s+[^)\n]{0,500})?\)")
_URL = re.compile(r"\b(?:https?|ftp)://[^\s<>()\[\]`]+")
# What can open an inline construct mid-line; `_` only where it can start or end emphasis (not inside words).
_ESCAPE = re.compile(r"([\\`*\[\]!|<>~&]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")


def neutralise_mentions(text: str) -> str:
    """Stop every `@user` and `@org/team`, in any context, from pinging anyone (a zero-width joiner after @)."""
    return _MENTION.sub("@" + ZWJ, text)


def one_line(text: str) -> str:
    """Return text on one line, with no HTML comment opener or closer: where the bot keeps its marks."""
    text = re.sub(r"[\x00-\x1f\x7f\u2028\u2029\x85]+", " ", text)
    return text.replace("<!--", "<!-" + ZWJ + "-").replace("-->", "-" + ZWJ + "->")


def escape_text(text: str) -> str:
    """Return user text as literal inline Markdown: one line, every Markdown and HTML character escaped."""
    return neutralise_mentions(_ESCAPE.sub(r"\\\1", one_line(text)))


def code_span(text: str) -> str:
    """Return user text (a path, a name) as one inline code span that no backtick inside can close."""
    text = neutralise_mentions(one_line(text))
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def fence(content: str, info: str = "") -> str:
    """Return a fenced code block one backtick longer than any backtick run inside it (never under three)."""
    longest = max((len(run) for run in re.findall(r"`+", content)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{info}\n{content}\n{ticks}"


def _own_link(url: str, repo: str) -> bool:
    return bool(repo) and url.lower().startswith(f"https://github.com/{repo.lower()}/")


def _prose(text: str, repo: str) -> str:
    """Sanitise text outside code: no HTML, no images, links only to the PR's repository."""
    text = _HTML_COMMENT.sub("", text)
    text = _TAG.sub("", text)
    text = _IMAGE.sub(lambda m: m["alt"], text)
    links: list[str] = []

    def link(match: re.Match[str]) -> str:
        label = match["text"] or match["url"]
        if _own_link(match["url"], repo):
            links.append("[" + _ESCAPE.sub(r"\\\1", label) + "](" + match["url"] + ")")
            return f"\x00{len(links) - 1}\x00"
        return label

    text = _LINK.sub(link, text)
    text = _URL.sub(lambda m: m[0] if _own_link(m[0], repo) else f"`{m[0]}`", text)
    text = text.replace("<", "&lt;").replace("[", "\\[").replace("]", "\\]")
    return re.sub(r"\x00(\d+)\x00", lambda m: links[int(m[1])], text)


def _inline(text: str, repo: str, budget: int) -> str:
    """Sanitise one paragraph: code spans stay literal, the prose around them is cleaned; stop past `budget`."""
    out, last, size = [], 0, 0
    for match in _CODE_SPAN.finditer(text):
        out += [_prose(text[last:match.start()], repo), code_span(match["code"].strip(" ") or " ")]
        size += len(out[-2]) + len(out[-1])
        last = match.end()
        if size > budget:
            return neutralise_mentions("".join(out))
    out.append(_prose(text[last:], repo))
    return neutralise_mentions("".join(out))


def _segments(text: str) -> list[tuple[str, str, str]]:
    """Split model text into ("prose", text, "") and ("code", content, info) parts; an unclosed fence ends at the end."""
    parts: list[tuple[str, str, str]] = []
    prose: list[str] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        opened = _FENCE_OPEN.match(lines[i])
        if not opened or (opened["fence"][0] == "`" and "`" in opened["info"]):
            prose.append(lines[i])
            i += 1
            continue
        if prose:
            parts.append(("prose", "\n".join(prose), ""))
            prose = []
        mark, body = opened["fence"], []
        i += 1
        while i < len(lines) and not re.match(rf"^ {{0,3}}{re.escape(mark[0])}{{{len(mark)},}}\s*$", lines[i]):
            body.append(lines[i])
            i += 1
        i += 1
        info = re.sub(r"[^\w+.-]", "", opened["info"].strip().split(" ")[0])[:20]
        parts.append(("code", "\n".join(body), info))
    if prose:
        parts.append(("prose", "\n".join(prose), ""))
    return parts


def _cut(kind: str, content: str, info: str, piece: str, room: int) -> str:
    """Return as much of one part as fits in `room` characters, never leaving a fence open."""
    if kind == "code":
        cut = content[:max(0, room - len(info) - 16)]
        return fence(cut, info) + "\n" if cut.strip() and len(fence(cut, info)) < room else ""
    piece = piece[:max(0, room)]
    return piece[:-1] if piece.endswith("\\") else piece


def model_markdown(text: str, *, repo: str = "", limit: int = 4_000) -> str:
    """Return the model's text as safe Markdown of at most `limit` characters, cut with "…(truncated)"."""
    overflow = len(text) > 2 * limit  # what is past this cannot fit; it is never scanned
    text = text[:2 * limit].replace("\r\n", "\n").replace("\r", "\n")
    budget = limit - len(TRUNCATED) - 1 if overflow else limit
    out: list[str] = []
    used = 0
    for kind, content, info in _segments(text):
        piece = fence(content, info) if kind == "code" else _inline(content, repo, budget - used)
        if used + len(piece) > budget:
            out.append(_cut(kind, content, info, piece, limit - used - len(TRUNCATED) - 1) + TRUNCATED)
            return "\n".join(out)
        out.append(piece)
        used += len(piece) + 1
    text = "\n".join(out).rstrip()
    return text + ("\n" + TRUNCATED if overflow else "")


def truncate(text: str, limit: int) -> str:
    """Return text cut to `limit` characters with "…(truncated)" when it is longer."""
    return text if len(text) <= limit else text[:limit - len(TRUNCATED)] + TRUNCATED
