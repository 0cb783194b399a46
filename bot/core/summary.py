"""The PR's summary comment, its hidden spend marker, review bodies and comment fingerprints. Pure."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from bot.core.batching import Skipped
from bot.core.reply import Comment, Dropped
from bot.core.severity import severity_counts

MARKER_VERSION = 1
_MARKER = re.compile(r"<!-- mistral-review:summary (?P<json>\{.*?\}) -->", re.DOTALL)
_FINGERPRINT = re.compile(r"<!-- mistral-review:fp (?P<fp>[0-9a-f]{16}) -->")
_RUN = re.compile(r"<!-- mistral-review:run (?P<run>[0-9a-zA-Z._-]+) -->")
MAX_FINGERPRINTS = 500


class MarkerError(ValueError):
    """A summary comment's marker exists but does not parse."""


@dataclass(frozen=True)
class Marker:
    """The state a PR carries between stateless runs: cumulative spend and the last reviewed head."""

    head: str | None = None
    reviews: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    estimated: bool = False
    fingerprints: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> str:
        """Return the marker's versioned JSON."""
        data: dict[str, Any] = {"v": MARKER_VERSION, **asdict(self)}
        data["cost_usd"] = round(self.cost_usd, 6)
        data["fingerprints"] = list(self.fingerprints[-MAX_FINGERPRINTS:])
        return json.dumps(data, separators=(",", ":"), sort_keys=True)


def parse_marker(body: str) -> Marker | None:
    """Return the marker in a comment body, None when there is none; MarkerError when it is broken."""
    match = _MARKER.search(body)
    if match is None:
        return None
    try:
        data = json.loads(match["json"])
        if not isinstance(data, dict) or data.get("v") != MARKER_VERSION:
            raise MarkerError(f"unsupported marker version {data.get('v') if isinstance(data, dict) else data!r}")
        fingerprints = data.get("fingerprints", [])
        if not isinstance(fingerprints, list) or not all(isinstance(f, str) for f in fingerprints):
            raise MarkerError("fingerprints is not a list of strings")
        head = data.get("head")
        marker = Marker(
            head=head if isinstance(head, str) else None,
            reviews=int(data.get("reviews", 0)),
            prompt_tokens=int(data.get("prompt_tokens", 0)),
            completion_tokens=int(data.get("completion_tokens", 0)),
            cost_usd=float(data.get("cost_usd", 0.0)),
            estimated=bool(data.get("estimated", False)),
            fingerprints=tuple(fingerprints),
        )
    except (ValueError, TypeError) as exc:
        raise MarkerError(f"summary marker does not parse: {exc}") from None
    if min(marker.reviews, marker.prompt_tokens, marker.completion_tokens) < 0 or marker.cost_usd < 0:
        raise MarkerError("summary marker has negative totals")
    return marker


def _fingerprint_text(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def fingerprint(path: str, quote: str, body: str) -> str:
    """Return a finding's fingerprint: the file, the quoted line's text and the normalised finding."""
    digest = hashlib.sha256(f"{path}\n{_fingerprint_text(quote)}\n{_fingerprint_text(body)}".encode()).hexdigest()
    return digest[:16]


def prints_of(comment: Comment) -> tuple[str, str]:
    """Return a comment's two fingerprints: the finding on its line, and "the bot already spoke on this line"."""
    return fingerprint(comment.path, comment.quote, comment.body), fingerprint(comment.path, comment.quote, "")


def fingerprints_in(bodies: Iterable[str]) -> set[str]:
    """Return the fingerprints hidden in comment bodies."""
    return {m["fp"] for body in bodies for m in _FINGERPRINT.finditer(body)}


def comment_body(comment: Comment) -> str:
    """Return a review comment's Markdown: severity, text, suggestion block and hidden fingerprints."""
    parts = [f"**{comment.severity.value}**: {comment.body}"]
    if comment.suggestion is not None:
        fence = "````" if "```" in comment.suggestion else "```"
        parts.append(f"{fence}suggestion\n{comment.suggestion}\n{fence}")
    parts.append("".join(f"<!-- mistral-review:fp {p} -->" for p in prints_of(comment)))
    return "\n\n".join(parts)


def run_id_in(body: str) -> str | None:
    """Return the run id hidden in a review body."""
    match = _RUN.search(body)
    return match["run"] if match else None


@dataclass(frozen=True)
class Overview:
    """What a review body reports besides its comments."""

    head: str
    files_reviewed: int
    since: str | None = None
    skipped: Sequence[Skipped] = ()
    unplaced: Sequence[Comment] = ()
    failed_batches: int = 0
    run_id: str = ""


def review_body(comments: Sequence[Comment], overview: Overview) -> str:
    """Return the short overview that heads the review."""
    scope = f"changes since `{overview.since[:7]}`" if overview.since else "the whole pull request"
    lines = [f"**mistral-review** reviewed {scope} at `{overview.head[:7]}` ({overview.files_reviewed} file(s)): "
             f"{len(comments) + len(overview.unplaced)} comment(s), {severity_counts([*comments, *overview.unplaced])}."]
    if overview.failed_batches:
        lines.append(f"{overview.failed_batches} batch(es) failed at the model; those files were not reviewed.")
    if overview.skipped:
        lines.append("Not reviewed: " + ", ".join(f"`{s.path}` ({s.reason.value})" for s in overview.skipped[:20])
                     + (f" and {len(overview.skipped) - 20} more" if len(overview.skipped) > 20 else "") + ".")
    if overview.unplaced:
        lines.append("\nComments GitHub would not place on the diff:")
        for c in overview.unplaced:
            lines.append(f"- `{c.path}` line {c.line} ({c.side.value}), **{c.severity.value}**: {c.body}")
    if overview.run_id:
        lines.append(f"<!-- mistral-review:run {overview.run_id} -->")
    return "\n".join(lines)


@dataclass(frozen=True)
class SummaryView:
    """What the summary comment shows beside the marker's totals."""

    budget_usd: float
    masked: int = 0
    skipped: Sequence[Skipped] = ()
    dropped: Sequence[Dropped] = ()
    notes: Sequence[str] = ()
    exhausted: bool = False


def summary_body(marker: Marker, view: SummaryView) -> str:
    """Return the one summary comment of a PR: spend so far, budget left, what was skipped, the marker."""
    left = max(0.0, view.budget_usd - marker.cost_usd)
    est = " (estimated)" if marker.estimated else ""
    lines = [
        "### mistral-review",
        "",
        "| | this pull request |",
        "|---|---|",
        f"| Reviews | {marker.reviews} |",
        f"| Input tokens | {marker.prompt_tokens:,} |",
        f"| Output tokens | {marker.completion_tokens:,} |",
        f"| Spent | ${marker.cost_usd:.4f}{est} |",
        f"| Budget left | ${left:.4f} of ${view.budget_usd:.2f} |",
        f"| Last reviewed commit | {('`' + marker.head[:7] + '`') if marker.head else 'none yet'} |",
    ]
    if view.exhausted:
        lines += ["", f"**Budget reached**: this pull request has used its ${view.budget_usd:.2f}. Nothing more "
                  "will be spent on it. To raise it, set `budget_usd` in `.github/mistral-review.toml` on the "
                  "base branch (or the Action's `budget_usd` input)."]
    if view.masked:
        lines += ["", f"{view.masked} secret-looking value(s) were masked before anything was sent."]
    if view.skipped:
        lines += ["", "Not reviewed in the last run:"]
        lines += [f"- `{s.path}`: {s.reason.value}" for s in view.skipped[:30]]
        if len(view.skipped) > 30:
            lines.append(f"- and {len(view.skipped) - 30} more")
    if view.dropped:
        reasons = sorted({d.reason for d in view.dropped})
        lines += ["", f"{len(view.dropped)} model comment(s) dropped ({', '.join(reasons)})."]
    for note in view.notes:
        lines += ["", f"> {note}"]
    lines += ["", f"<!-- mistral-review:summary {marker.to_json()} -->"]
    return "\n".join(lines)
