"""Mask credentials in diff lines before anything is sent to the model.

Pure: takes file diffs, returns masked copies and how many values were masked. The shapes live in
bot.core.secret_shapes; this module decides, per line and per hunk, what to replace with MASK.
"""

from __future__ import annotations

import base64
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace

from bot.core.diff import FileDiff, Hunk
from bot.core.secret_shapes import (
    ASSIGNMENT,
    AUTH_HEADER,
    AWS_ID_PREFIXES,
    AWS_KEY_ID,
    AWS_SECRET,
    B64_ROW,
    BARE_SECRET,
    CODE_VALUE,
    CURL_USER,
    ENCODED_PEM,
    ESCAPED_KEY,
    KEY_BEGIN,
    KEY_END,
    KEY_ROW_WIDTHS,
    KEY_STOP,
    KNOWN_TOKENS,
    NAME_MARKERS,
    PASSWORD_NAME,
    PLACEHOLDER,
    REGISTRY_AUTH,
    TOKEN_MARKERS,
    URL_CREDENTIALS,
    URL_PORT_PATH,
    URL_USER_KEY,
)

MASK = "[MASKED]"
_MIN_ENTROPY = 3.0
_MIN_KEY_RUN = 160  # characters of base64 in consecutive rows: the smallest PEM private key body (EC P-256)
_SECRET_WORDS = frozenset({"password", "passwd", "pass", "pwd", "secret", "token", "key", "credential", "credentials"})

# A replacement for one match, or None to keep the match as it is.
Replacer = Callable[[re.Match[str]], "str | None"]


def entropy(value: str) -> float:
    """Return the Shannon entropy of a string in bits per character."""
    counts = Counter(value)
    total = len(value)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


def _mixed(value: str) -> bool:
    return bool(re.search(r"\d", value) and re.search(r"[A-Za-z]", value))


def _literal(value: str) -> bool:
    """Whether a value is written out, not a placeholder, a reference or an earlier mask."""
    return MASK not in value and not PLACEHOLDER.match(value) and not value.startswith("$")


def _whole(_: re.Match[str]) -> str:
    return MASK


def _escaped_key(match: re.Match[str]) -> str | None:
    if not KEY_STOP.match(match.string, match.end()):  # the body ran into something that is not key material
        return None
    return f"{match['begin']}\\n{MASK}\\n"


def _encoded_pem(match: re.Match[str]) -> str | None:
    head = match[0].rstrip("=")[:80]  # 80 base64 characters: the PEM's first line, whatever its kind
    pem = base64.b64decode(head[:len(head) // 4 * 4])  # whole 4-character groups: never a padding error
    return MASK if b"PRIVATE KEY" in pem else None


def _url_user_key(match: re.Match[str]) -> str:
    return f"{match['head']}{MASK}"


def _url(match: re.Match[str]) -> str | None:
    """Mask the password: up to the last `@` before the host's end (the first `/`, `?` or `#` after an `@`)."""
    rest = match["rest"]
    first = rest.find("@")
    if first < 0:
        return None
    host_end = min((i for i in (rest.find(c, first) for c in "/?#") if i >= 0), default=len(rest))
    at = rest.rfind("@", first, host_end)
    password = rest[:at]
    if not password or not _literal(password) or URL_PORT_PATH.match(password):
        return None  # `host:3000/@vite/client` is a port and a path
    return f"{match['head']}{MASK}{rest[at:]}"


def _header(match: re.Match[str]) -> str | None:
    value = match["value"]
    if MASK in value or not _mixed(value) or entropy(value) < _MIN_ENTROPY:
        return None
    return f"{match['head']}{MASK}"


def _registry_auth(match: re.Match[str]) -> str | None:
    value = match["value"]
    return f"{match['head']}{MASK}" if entropy(value) >= _MIN_ENTROPY else None


def _curl_user(match: re.Match[str]) -> str | None:
    return f"{match['head']}{MASK}" if _literal(match["password"].strip("\"'")) else None


def _aws_secret(match: re.Match[str]) -> str | None:
    value = match[0]
    cased = re.search(r"[a-z]", value) and re.search(r"[A-Z]", value)  # a commit SHA is one case of hex
    return MASK if cased and _mixed(value) and entropy(value) >= 4.0 else None


def _label(value: str) -> bool:
    """Whether a value names a secret rather than holds one: `"ci_must_pass"`, `"MISTRAL_SA_TOKEN_PATH"`."""
    parts = re.split(r"[_.-]", value.lower())
    return len(parts) > 1 and any(part in _SECRET_WORDS for part in parts)


def _assignment(match: re.Match[str]) -> str | None:
    value = match["quoted"] or match["bare"]
    if not _literal(value) or _label(value):
        return None
    if match["bare"] and not _bare_secret(match):
        return None
    if match["quoted"] and entropy(value) < _MIN_ENTROPY:
        return None
    quote = match["quote"] or ""
    return f"{match['name']}{match['sep']}{quote}{MASK}{quote}"


def _bare_secret(match: re.Match[str]) -> bool:
    """Whether an unquoted value is a secret: a literal that ends where a value ends and looks random enough.

    An environment variable (`PGPASSWORD=...`, `POSTGRES_PASSWORD=...`) may hold any characters, letters only
    included; any other name's value must mix letters and digits of a token's alphabet, as code rarely does.
    """
    value, name, end = match["bare"], match["name"], match.end()
    environment = name.isupper() and match["sep"] == "=" and PASSWORD_NAME.search(name) is not None
    after = match.string[end:end + 1]
    if after and not (after.isspace() or after in ",;" or (environment and after in "\"'`")):
        return False  # the value goes on as code, or is a run longer than its cap
    if CODE_VALUE.match(value):
        return False
    if environment:  # a shell line or an env file quoted whole: `"PGPASSWORD=..."`
        return entropy(value) >= 2.0
    return (len(value) >= 12 and BARE_SECRET.fullmatch(value) is not None and _mixed(value)
            and entropy(value) >= _MIN_ENTROPY)


def _steps(text: str) -> list[tuple[re.Pattern[str], Replacer]]:
    """Return the patterns worth running on a line, in order; substring checks skip the rest."""
    lower = text.lower()
    wanted = [
        ("PRIVATE KEY" in text, ESCAPED_KEY, _escaped_key),
        ("LS0tLS1CRUdJTi" in text, ENCODED_PEM, _encoded_pem),
        (any(marker in text for marker in TOKEN_MARKERS), KNOWN_TOKENS, _whole),
        ("://" in text, URL_USER_KEY, _url_user_key),
        ("://" in text, URL_CREDENTIALS, _url),
        ("bearer" in lower or "basic" in lower or "token" in lower, AUTH_HEADER, _header),
        ("curl" in lower, CURL_USER, _curl_user),
        ('"auth"' in text or "_auth" in text, REGISTRY_AUTH, _registry_auth),
        ("aws" in lower or (any(p in text for p in AWS_ID_PREFIXES) and AWS_KEY_ID.search(text) is not None),
         AWS_SECRET, _aws_secret),
        (any(marker in lower for marker in NAME_MARKERS), ASSIGNMENT, _assignment),
    ]
    return [(pattern, replacer) for wanted_here, pattern, replacer in wanted if wanted_here]


def mask_line(text: str) -> tuple[str, int]:
    """Mask key material, token shapes, credentials in URLs, headers and commands, and secret assignments in a line.

    Each step is one linear pattern, run only when a substring it needs is in the line.
    """
    count = 0

    def counted(replacer: Replacer) -> Callable[[re.Match[str]], str]:
        def replace_one(match: re.Match[str]) -> str:
            nonlocal count
            replacement = replacer(match)
            if replacement is None:
                return match[0]
            count += 1
            return replacement
        return replace_one

    for pattern, replacer in _steps(text):
        text = pattern.sub(counted(replacer), text)
    return text, count


def _b64(text: str) -> str | None:
    match = B64_ROW.match(text.strip())
    return match["b64"] if match else None


def _key_run(rows: Sequence[str | None], start: int) -> int:
    """Return where a run of base64 rows starting at `start` ends (exclusive)."""
    end = start
    while end < len(rows) and rows[end] is not None:
        end += 1
    return end


def key_rows(texts: Sequence[str]) -> set[int]:
    """Return the rows of a hunk that hold private key material, with or without the key's BEGIN line in view."""
    rows = [_b64(t) for t in texts]
    found: set[int] = set()
    inside = False
    for i, text in enumerate(texts):
        begins, ends = bool(KEY_BEGIN.search(text)), bool(KEY_END.search(text))
        if ends and not inside:  # the hunk starts inside a key block: the base64 rows above the END line
            j = i - 1
            while j >= 0 and rows[j] is not None and j not in found:
                found.add(j)
                j -= 1
        if inside and not begins and not ends:
            found.add(i)
        inside = (inside or begins) and not ends
    i = 0
    while i < len(rows):  # a bare body: consecutive rows of a key's wrap width and length, mixed like random data
        end = _key_run(rows, i)
        run = [r for r in rows[i:end] if r is not None]
        joined = "".join(run)
        if (sum(len(r) in KEY_ROW_WIDTHS for r in run) >= 2 and len(joined) >= _MIN_KEY_RUN
                and _mixed(joined) and re.search(r"[a-z]", joined) and re.search(r"[A-Z]", joined)
                and entropy(joined) > 5.0):
            found.update(range(i, end))
        i = max(end, i + 1)
    return found


def _mask_hunk(hunk: Hunk) -> tuple[Hunk, int]:
    # git's function context after `@@ ... @@` is a line of the file too, often an assignment at the top level
    section, masked = mask_line(hunk.section)
    body = key_rows([ln.text for ln in hunk.lines])
    lines = []
    for i, line in enumerate(hunk.lines):
        if i in body:
            text, n = MASK, 1
        else:
            text, n = mask_line(line.text)
        masked += n
        lines.append(line if text == line.text else replace(line, text=text))
    return replace(hunk, section=section, lines=tuple(lines)), masked


def mask_file(file: FileDiff) -> tuple[FileDiff, int]:
    """Return the file with credentials masked, and how many were masked."""
    total = 0
    hunks = []
    for hunk in file.hunks:
        masked_hunk, n = _mask_hunk(hunk)
        hunks.append(masked_hunk)
        total += n
    return (replace(file, hunks=tuple(hunks)) if total else file), total
