"""Markdown that renders as intended whatever text it carries. Pure.

Everything a PR or the model wrote (paths, titles, notes, comment text) goes through one of these before it
reaches a bot comment, on every host: it cannot open an HTML comment (the bot's marker), close a fence early,
mention anyone (entities are decoded first), show an image, or link away from the PR's own repository.

The output is built piece by piece, never by substituting into the text: the only live constructs in it are
the code spans, fences and own-repository links made here; every other character is escaped.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from bot.core.links import link_target

TRUNCATED = "…(truncated)"
ZWJ = "\u200d"

# NUL and other controls (not \t or \n), bidi controls, lone surrogates and the BOM: never shown, never kept.
_INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufeff]")
_NEWLINES = re.compile("\r\n?|[\u2028\u2029]")
_MENTION = re.compile("@(?!\u200d)")  # any @: a mention, an e-mail address or a commit reference
_CROSS_REF = re.compile(r"(?<=[A-Za-z0-9_.-])([#!])(?=[0-9])")  # owner/repo#1, group/project!1: another repo
_FENCE_OPEN = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})(?P<info>[^\n]*)$")
_CODE_SPAN = re.compile(r"(?<!`)(?P<ticks>`{1,16})(?!`)(?P<code>.{1,500}?)(?<!`)(?P=ticks)(?!`)")
_HTML_COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.S)
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]{0,40}(?:\s[^<>]{0,500})?/?>|<[!?][^<>]{0,500}>")
# A URL any host would autolink: any scheme followed by "//", or "www." (GFM's extended autolinks).
_BARE_URL = r"(?P<url>(?:[A-Za-z][A-Za-z0-9+.-]{0,31}://|[Ww]{3}\.)[^\s<>`]*)"
_BARE = re.compile(_BARE_URL)
_CONSTRUCT = re.compile(r"(?P<bang>!?)\[(?P<label>[^\[\]\n]{0,500})\]\((?P<dest>[^()\[\]\s<>]{0,2000})"
                        r"(?:[ \t]{1,20}(?:\"[^\"\n]{0,300}\"|'[^'\n]{0,300}'))?\)|" + _BARE_URL)
_URL_TAIL = set(".,:;!?*_~'\")")
# What can open an inline construct mid-line; `_` only where it can start or end emphasis (not inside words).
_ESCAPE = re.compile(r"([\\`*\[\]!|<>~&]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")
_PROSE_ESCAPE = re.compile(r"[\\`\[\]!|<&]")  # model prose keeps its emphasis, lists and headings

Atom = tuple[str, str, tuple[str, str]]  # (markdown, "text" | "code" | "fixed", fence content and info)
_NO_CODE = ("", "")


def clean(text: str) -> str:
    """Return text without NUL, control characters (newline and tab stay), bidi controls or lone surrogates."""
    return _INVISIBLE.sub("", _NEWLINES.sub("\n", text))


def neutralise_mentions(text: str) -> str:
    """Stop every `@user`, `@org/team` and e-mail address, in any context, from going live (a zero-width joiner after @)."""
    return _MENTION.sub("@" + ZWJ, text)


def _neutral(text: str) -> str:
    """Return text with no mention and no reference to another repository's issues."""
    return neutralise_mentions(_CROSS_REF.sub(r"\1" + ZWJ, text))


def one_line(text: str) -> str:
    """Return text on one line, with no HTML comment opener or closer: where the bot keeps its marks."""
    text = re.sub(r"[\t\n]+", " ", clean(text))  # clean() leaves no other control or line separator
    return text.replace("<!--", "<!-" + ZWJ + "-").replace("-->", "-" + ZWJ + "->")


def _literal(text: str) -> str:
    return _ESCAPE.sub(r"\\\1", text)


def _prose_escape(text: str) -> str:
    return _PROSE_ESCAPE.sub(lambda m: {"<": "&lt;", "&": "&amp;"}.get(m[0], "\\" + m[0]), text)


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


def _trim(url: str) -> tuple[str, str]:
    """Split a bare URL from the punctuation after it (a closing parenthesis only when unbalanced)."""
    cut = len(url)
    while cut and url[cut - 1] in _URL_TAIL:
        cut -= 1
    unclosed = url[:cut].count("(") - url[:cut].count(")")
    while cut < len(url) and url[cut] == ")" and unclosed > 0:
        cut, unclosed = cut + 1, unclosed - 1
    return url[:cut], url[cut:]


def _shown(target: str) -> str:
    """Return a link's address as the text of the link."""
    return _prose_escape(_neutral(target.replace("&amp;", "&")))


def _glued(atoms: list[Atom]) -> list[Atom]:
    """Return atoms with a space wherever two would run their backticks together (one longer run)."""
    out: list[Atom] = []
    for atom in atoms:
        if out and out[-1][0].endswith("`") and atom[0].startswith("`"):
            out.append((" ", "text", _NO_CODE))
        if atom[0]:
            out.append(atom)
    return out


def _plain(text: str, escape: Callable[[str], str]) -> list[Atom]:
    """Return plain text as atoms: every URL a code span, the rest neutralised and escaped."""
    atoms: list[Atom] = []
    last = 0
    for match in _BARE.finditer(text):
        url, tail = _trim(match["url"])
        atoms += [(escape(_neutral(text[last:match.start()])), "text", _NO_CODE), (code_span(url), "fixed", _NO_CODE)]
        last = match.end() - len(tail)
    return atoms + [(escape(_neutral(text[last:])), "text", _NO_CODE)]


def _render(text: str, base: str) -> list[Atom]:
    """Return model prose as atoms: links into `base` kept, images and other links as their text.

    What is left of images and links is joined with the text around it before it is read again (as plain
    text): "ww" then the text of a link "w.evil.example" must be seen as one URL.
    """
    atoms: list[Atom] = []
    plain: list[str] = []
    last = 0
    for match in _CONSTRUCT.finditer(text):
        plain.append(text[last:match.start()])
        last = match.end()
        url, tail = _trim(match["url"]) if match["url"] is not None else ("", "")
        label = match["label"] if match["url"] is None else ""
        target = link_target(url or match["dest"], base) if not match["bang"] else None
        if target is None:
            plain.append(match[0] if match["url"] is not None else label)
            continue
        shown = "".join(a[0] for a in _plain(label, _prose_escape)) if label else _shown(target)
        atoms += _plain("".join(plain), _prose_escape) + [(f"[{shown}]({target})", "fixed", _NO_CODE)]
        plain = [tail]
    return atoms + _plain("".join(plain) + text[last:], _prose_escape)


def escape_text(text: str) -> str:
    """Return user text as literal inline Markdown: one line, every Markdown and HTML character escaped, no link."""
    return "".join(atom[0] for atom in _glued(_plain(one_line(text), _literal)))


def _prose(text: str, base: str) -> list[Atom]:
    """Sanitise text outside code: entities decoded, then no HTML, no images, links only into `base`."""
    text = _TAG.sub("", _HTML_COMMENT.sub("", clean(html.unescape(text))))
    return _render(text, base)


def _inline(text: str, base: str) -> list[Atom]:
    """Sanitise one paragraph: code spans stay literal, the prose around them is cleaned."""
    atoms: list[Atom] = []
    last = 0
    for match in _CODE_SPAN.finditer(text):
        atoms += _prose(text[last:match.start()], base)
        atoms.append((code_span(match["code"].strip(" ") or " "), "fixed", _NO_CODE))
        last = match.end()
    return _glued(atoms + _prose(text[last:], base))


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


def _cut_fence(content: str, info: str, room: int) -> str:
    """Return the start of a code block as a closed fence of at most `room` characters ("" when none fits)."""
    cut = content[:max(0, room - len(info) - 8)]
    while cut.strip() and len(fence(cut, info)) > room:
        cut = cut[:len(cut) - (len(fence(cut, info)) - room)]
    return fence(cut, info) if cut.strip() else ""


def _fit(atoms: list[Atom], limit: int, overflow: bool, sep: str = "\n") -> str:
    """Join atoms within `limit` characters; cut with "…(truncated)" inside text or a fence, never a construct."""
    whole = "".join(atom[0] for atom in atoms).rstrip()
    if not overflow and len(whole) <= limit:
        return whole
    room = limit - len(TRUNCATED) - 1
    out: list[str] = []
    for shown, kind, (content, info) in atoms:
        if len(shown) <= room:
            out.append(shown)
            room -= len(shown)
            continue
        if kind == "text":
            out.append(shown[:room])
        elif kind == "code":
            out.append(_cut_fence(content, info, room))
        break
    return "".join(out).rstrip() + sep + TRUNCATED


def model_markdown(text: str, *, base: str = "", limit: int = 4_000, inline: bool = False) -> str:
    """Return the model's text as safe Markdown of at most `limit` characters, cut with "…(truncated)".

    Links are kept only into the repository at `base` (see link_base); `inline` puts it all on one line.
    """
    overflow = len(text) > 2 * limit  # what is past this cannot fit; it is never scanned
    text = clean(text[:2 * limit])
    if inline:
        return _fit(_inline(" ".join(text.split()), base), limit, overflow, " ")
    atoms: list[Atom] = []
    for kind, content, info in _segments(text):
        if atoms:
            atoms.append(("\n", "text", _NO_CODE))
        atoms += [(fence(content, info), "code", (content, info))] if kind == "code" else _inline(content, base)
    return _fit(atoms, limit, overflow)


def truncate(text: str, limit: int) -> str:
    """Return text cut to `limit` characters with "…(truncated)" when it is longer."""
    return text if len(text) <= limit else text[:limit - len(TRUNCATED)] + TRUNCATED
