"""File names as git writes them in diff headers: C-style quoting, prefixes (`a/`, `b/`, none, custom), CRLF.

Pure. git quotes a name holding a control character, `"`, `\\` or (with `core.quotepath`, the default) a byte
over 0x7f: `"b/configuraci\\303\\263n/.env"`, octal escapes being the UTF-8 bytes of the name
(https://git-scm.com/docs/git-config#Documentation/git-config.txt-corequotePath).
"""

from __future__ import annotations

from dataclasses import dataclass

DEV_NULL = "/dev/null"
MAX_HEADER = 2 * 4096 + 16  # two names of git's longest path: the split below compares names, so bound it
_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}


def c_unquote(quoted: str) -> tuple[str, int] | None:
    """Read a C-quoted name at the start of `quoted`; return it and the index after its closing quote, or None."""
    if not quoted.startswith('"'):
        return None
    out = bytearray()
    i = 1
    while i < len(quoted):
        char = quoted[i]
        if char == '"':
            return out.decode("utf-8", errors="replace"), i + 1
        if char != "\\":
            out += char.encode("utf-8", errors="replace")
            i += 1
            continue
        code = quoted[i + 1:i + 2]
        if code in _ESCAPES:
            out.append(_ESCAPES[code])
            i += 2
        elif len(digits := quoted[i + 1:i + 4]) == 3 and all(d in "01234567" for d in digits) and digits <= "377":
            out.append(int(digits, 8))
            i += 4
        else:
            return None
    return None


def header_name(raw: str) -> str:
    """Return a name from a `---`/`+++`/`rename from` line: unquoted, without a trailing CR or timestamp."""
    raw = raw.rstrip("\r")
    unquoted = c_unquote(raw)
    if unquoted is not None:
        return unquoted[0]
    return raw.split("\t", 1)[0]


def _tail(name: str) -> str | None:
    return name.split("/", 1)[1] if "/" in name else None


def split_git_header(rest: str) -> tuple[str, str] | None:
    """Split what follows `diff --git ` into the two (prefixed) names, as git itself does; None when it cannot.

    Unquoted names are ambiguous when they hold spaces; git's rule is that both sides name the same file
    (a rename also has `rename from`/`rename to` lines), so the split is where both sides agree.
    """
    rest = rest.rstrip("\r")
    if len(rest) > MAX_HEADER:
        return None
    first = c_unquote(rest)
    if first is not None:
        after = rest[first[1]:]
        if not after.startswith(" "):
            return None
        second = c_unquote(after[1:])
        return first[0], second[0] if second else after[1:]
    quote = rest.find(' "')
    if quote > 0 and (second := c_unquote(rest[quote + 1:])) is not None and quote + 1 + second[1] == len(rest):
        return rest[:quote], second[0]
    spaces = [i for i, char in enumerate(rest) if char == " "]
    for i in spaces:  # no prefix: the same name twice
        if 2 * i + 1 == len(rest) and rest[:i] == rest[i + 1:]:
            return rest[:i], rest[i + 1:]
    for i in spaces:  # one prefix each side (a/ b/, or --src-prefix/--dst-prefix)
        left, right = _tail(rest[:i]), _tail(rest[i + 1:])
        if left is not None and left == right:
            return rest[:i], rest[i + 1:]
    return None


@dataclass
class HeaderNames:
    """The names one file's header lines give (prefixed as written, `None` where a line is missing)."""

    git_old: str | None = None
    git_new: str | None = None
    minus: str | None = None
    plus: str | None = None
    rename_from: str | None = None
    rename_to: str | None = None


def _strip(name: str | None, prefixed: bool) -> str | None:
    if name is None or name == DEV_NULL:
        return None
    return name.split("/", 1)[1] if prefixed and "/" in name else name


def resolve(names: HeaderNames) -> tuple[str | None, str | None]:
    """Return the old and new paths (None for /dev/null), without the diff's prefixes."""
    old = names.minus if names.minus is not None else names.git_old
    new = names.plus if names.plus is not None else names.git_new
    if names.git_old is not None and names.git_new is not None:
        # A git header names the file twice: equal names mean no prefix; equal tails mean one prefix each side.
        prefixed = names.git_old != names.git_new and _tail(names.git_old) is not None \
            and _tail(names.git_old) == _tail(names.git_new)
        if not prefixed and names.git_old != names.git_new:
            prefixed = names.git_old.startswith("a/") and names.git_new.startswith("b/")
    else:
        prefixed = (old in (None, DEV_NULL) or old.startswith("a/")) and \
            (new in (None, DEV_NULL) or new.startswith("b/")) and (old, new) != (None, None)
    old_path, new_path = _strip(old, prefixed), _strip(new, prefixed)
    if names.rename_from is not None and names.rename_to is not None:
        old_path, new_path = names.rename_from, names.rename_to
    return old_path, new_path
