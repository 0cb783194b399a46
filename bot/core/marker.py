"""The bot's memory on a PR: the summary marker and the findings' fingerprints, both keyed. Pure.

Each is one HTML comment on the **last line** of a comment the bot wrote, signed with an HMAC whose key only
the operator holds (the webhook secret, the Action's `marker_key`, or a key derived from MISTRAL_API_KEY). A PR
can write text into bot comments (file names, the model's reply) but never onto that last line (everything it
writes is escaped and placed above), and it cannot compute a valid signature, so it can neither plant nor edit
the bot's state.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

MARKER_VERSION = 2
MAX_FINGERPRINTS = 500
MAX_PENDING = 300
SUMMARY_PREFIX = "<!-- mistral-review:summary "
_MARKER = re.compile(r"<!-- mistral-review:summary (?P<json>\{[^\n]*\}) sig=(?P<sig>[0-9a-f]{64}) -->")
_FINGERPRINT = re.compile(r"<!-- mistral-review:fp (?P<fp>[0-9a-f]{32}) -->")
_TRIVIAL = re.compile(r"^[\W_]*$")  # `}`, `})`, `];`, blank: no code of their own
_DIGEST = re.compile(r"[0-9a-f]{16}")


class MarkerError(ValueError):
    """A summary comment's marker exists but does not parse or does not carry our signature."""


def derive_key(secret: str, purpose: str = "marker") -> bytes:
    """Return the marker key derived from an operator secret (the webhook secret or MISTRAL_API_KEY)."""
    return hmac.new(secret.encode(), f"mistral-review {purpose} v{MARKER_VERSION}".encode(), hashlib.sha256).digest()


def _sign(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def last_line(body: str) -> str:
    """Return the last non-empty line of a comment body: the only place the bot's marks are read."""
    lines = body.rstrip().rsplit("\n", 1)
    return lines[-1].strip()


@dataclass(frozen=True)
class Marker:
    """The state a PR carries between stateless runs: cumulative spend, the last reviewed head, and what is owed.

    `pending` names (by `path_digest`) the files the last run left out for budget: the next incremental run
    reviews them whole besides what the push changed, so moving the head on never drops them.
    """

    head: str | None = None
    reviews: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    estimated: bool = False
    fingerprints: tuple[str, ...] = field(default_factory=tuple)
    pending: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> str:
        """Return the marker's versioned JSON."""
        data: dict[str, Any] = {"v": MARKER_VERSION, **asdict(self)}
        data["cost_usd"] = round(self.cost_usd, 6)
        data["fingerprints"] = list(self.fingerprints[-MAX_FINGERPRINTS:])
        data["pending"] = list(self.pending[:MAX_PENDING])
        return json.dumps(data, separators=(",", ":"), sort_keys=True)

    def line(self, key: bytes) -> str:
        """Return the signed marker line that ends the summary comment."""
        text = self.to_json()
        return f"{SUMMARY_PREFIX}{text} sig={_sign(key, text)} -->"


def is_summary(body: str) -> bool:
    """Return whether a comment body ends with a summary marker (signed or not)."""
    return last_line(body).startswith(SUMMARY_PREFIX)


def _from_json(data: Any) -> Marker:
    if not isinstance(data, dict) or data.get("v") != MARKER_VERSION:
        raise MarkerError(f"unsupported marker version {data.get('v') if isinstance(data, dict) else data!r}")
    fingerprints = data.get("fingerprints", [])
    if not isinstance(fingerprints, list) or not all(isinstance(f, str) for f in fingerprints):
        raise MarkerError("fingerprints is not a list of strings")
    pending = data.get("pending", [])  # absent from markers written before it existed
    if not isinstance(pending, list) or not all(isinstance(p, str) and _DIGEST.fullmatch(p) for p in pending):
        raise MarkerError("pending is not a list of path digests")
    head = data.get("head")
    marker = Marker(head=head if isinstance(head, str) else None, reviews=int(data.get("reviews", 0)),
                    prompt_tokens=int(data.get("prompt_tokens", 0)),
                    completion_tokens=int(data.get("completion_tokens", 0)),
                    cost_usd=float(data.get("cost_usd", 0.0)), estimated=bool(data.get("estimated", False)),
                    fingerprints=tuple(fingerprints), pending=tuple(pending))
    if min(marker.reviews, marker.prompt_tokens, marker.completion_tokens) < 0 or marker.cost_usd < 0:
        raise MarkerError("summary marker has negative totals")
    return marker


def parse_marker(body: str, key: bytes) -> Marker | None:
    """Return the signed marker on a comment's last line; None when there is none; MarkerError when it fails."""
    line = last_line(body)
    if not line.startswith(SUMMARY_PREFIX):
        return None
    match = _MARKER.fullmatch(line)
    if match is None:
        raise MarkerError("summary marker is not in the signed format of this version")
    if not hmac.compare_digest(match["sig"], _sign(key, match["json"])):
        raise MarkerError("summary marker's signature does not match (edited, planted, or the key changed)")
    try:
        return _from_json(json.loads(match["json"]))
    except (ValueError, TypeError) as exc:
        raise MarkerError(f"summary marker does not parse: {exc}") from None


def path_digest(path: str) -> str:
    """Return the short digest a marker names a file by (a file name may hold anything, even `-->`)."""
    return hashlib.sha256(path.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def normalise(text: str) -> str:
    """Return text lower-cased, punctuation and spacing folded: what a fingerprint compares."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def is_trivial(line: str) -> bool:
    """Return whether a code line is only punctuation or blank (`}`, `})`): it never keys a finding alone."""
    return bool(_TRIVIAL.match(line))


def fingerprint(key: bytes, path: str, finding: str, code: list[str]) -> str:
    """Return a finding's keyed fingerprint: its file, its normalised text and the code of its line range."""
    material = json.dumps([path, normalise(finding), [" ".join(c.split()) for c in code]])
    return _sign(key, material)[:32]


def fingerprint_line(print_: str) -> str:
    """Return the hidden line that ends a posted review comment."""
    return f"<!-- mistral-review:fp {print_} -->"


def fingerprint_in(body: str) -> str | None:
    """Return the fingerprint on a comment's last line, or None."""
    match = _FINGERPRINT.fullmatch(last_line(body))
    return match["fp"] if match else None
