"""Which links the bot keeps: only those into the PR's own repository, normalised the way a browser reads them. Pure."""

from __future__ import annotations

import re

_BACKSLASH_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_URL_PARTS = re.compile(r"(?P<auth>[^/?#\\]*)(?P<path>[^?#]*)(?P<query>\?[^#]*)?(?P<frag>#.*)?", re.S)


def link_base(web_url: str, repo: str) -> str:
    """Return the web address of a repository on its host (`https://host/owner/repo/`): links kept start there."""
    return f"{web_url.rstrip('/')}/{repo.strip('/')}/" if web_url and repo else ""


def _unquote(text: str) -> str:
    """Decode %XX escapes (as UTF-8, the way browsers and servers read a path)."""
    raw = re.sub(rb"%([0-9A-Fa-f]{2})", lambda m: bytes([int(m[1], 16)]), text.encode("utf-8", "replace"))
    return raw.decode("utf-8", "replace")


def _quote(text: str, safe: str) -> str:
    """Percent-encode every character but letters, digits, `-._~` and `safe`."""
    return "".join(c if c.isascii() and (c.isalnum() or c in "-._~" + safe) else
                   "".join(f"%{b:02X}" for b in c.encode("utf-8", "replace")) for c in text)


def _dot_free(path: str) -> str:
    """Resolve `.` and `..` segments as a browser does (RFC 3986, section 5.2.4)."""
    kept: list[str] = []
    segments = path.split("/")[1:]
    for segment in segments:
        if segment == "..":
            kept = kept[:-1]
        elif segment != ".":
            kept.append(segment)
    tail = "/" if segments and segments[-1] in (".", "..") and kept else ""
    return "/" + "/".join(kept) + tail


def link_target(url: str, base: str) -> str | None:
    """Return a link's address, normalised and encoded, when it points into the repository at `base`; else None.

    The address returned is the one checked: dot segments resolved (`%2e` too), `\\` read as `/`, scheme and
    host compared case-insensitively, relative links and user info refused.
    """
    scheme, sep, rest = _BACKSLASH_ESCAPE.sub(r"\1", url).partition("://")
    base_scheme, _, base_rest = base.partition("://")
    parts = _URL_PARTS.fullmatch(rest)
    if not base or not sep or scheme.lower() != base_scheme.lower() or parts is None:
        return None
    if parts["auth"].lower() != base_rest.split("/", 1)[0].lower():
        return None
    path = _unquote(parts["path"]).replace("\\", "/")
    if re.search(r"%(?:2e|2f|5c)", path, re.I):  # encoded twice: some server would decode it again
        return None
    address = f"{base_scheme}://{parts['auth'].lower()}{_quote(_dot_free(path), '/!$*+,;=:')}"
    if not address.lower().startswith(base.lower()):
        return None
    tail = _quote((parts["query"] or "") + (parts["frag"] or ""), "/?#!$*+,;=:&%@")
    return address + tail.replace("&", "&amp;")
