"""GitLab's formats, as pure functions: /diffs entries for the flow, diff-note positions, and note bodies
that cannot run quick actions.

Positions follow GitLab's check: the `(old_line, new_line)` pair of a real line of the version's diff
(added: new only, removed: old only, context: both); a range adds `line_range` with line codes
`sha1(path)_old_new`, where an added line carries the old counter and a removed line the new one.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from bot.core.diff import Side
from bot.core.markdown import clean
from bot.core.reply import Comment
from bot.core.summary import Overview
from bot.review.markdown import render_comment

HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")
QUICK_ACTION = re.compile(r"^(\s*)/")
BINARY = re.compile(r"^Binary files .* differ\s*$")


@dataclass(frozen=True)
class Row:
    """One line of a GitLab diff: its kind, its numbers, and the counters GitLab's line code uses."""

    kind: str  # "+", "-" or " "
    old_line: int | None
    new_line: int | None
    old_counter: int
    new_counter: int


def diff_rows(diff: str) -> list[Row]:
    """Number the lines of a GitLab diff (hunks only) as GitLab does."""
    rows: list[Row] = []
    old = new = 0
    for raw in diff.split("\n"):
        match = HUNK.match(raw)
        if match:
            old, new = int(match[1]), int(match[2])
        elif raw[:1] == "+":
            rows.append(Row("+", None, new, old, new))
            new += 1
        elif raw[:1] == "-":
            rows.append(Row("-", old, None, old, new))
            old += 1
        elif raw[:1] == " ":
            rows.append(Row(" ", old, new, old, new))
            old, new = old + 1, new + 1
    return rows


def flow_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    """Turn a GitLab /diffs (or compare) entry into the GitHub-shaped file entry the review flow reads."""
    diff = str(entry.get("diff") or "")
    status = ("added" if entry.get("new_file") else "removed" if entry.get("deleted_file")
              else "renamed" if entry.get("renamed_file") else "modified")
    out: dict[str, Any] = {"filename": entry["new_path"], "status": status}
    if status == "renamed":
        out["previous_filename"] = entry["old_path"]
    if BINARY.match(diff):
        return out  # no patch and no counts: the flow lists it as binary
    if diff.strip():
        out["patch"] = diff.rstrip("\n")
        rows = diff_rows(diff)
        out["additions"] = sum(r.kind == "+" for r in rows)
        out["deletions"] = sum(r.kind == "-" for r in rows)
    elif entry.get("too_large") or entry.get("collapsed"):
        out["additions"] = 1  # changed, but GitLab left the diff out: the flow diffs the two blobs itself
    return out


class LineMap:
    """The commentable lines of one diff version, by path."""

    def __init__(self, entries: Iterable[Mapping[str, Any]]) -> None:
        self._paths: dict[str, tuple[str, list[Row]]] = {}
        for entry in entries:
            self._paths[str(entry["new_path"])] = (str(entry["old_path"]), diff_rows(str(entry.get("diff") or "")))

    def row(self, path: str, side: Side, line: int) -> Row | None:
        """Return the diff line a comment names, or None when the version's diff has no such line."""
        _, rows = self._paths.get(path, ("", []))
        for row in rows:
            if side is Side.RIGHT and row.kind != "-" and row.new_line == line:
                return row
            if side is Side.LEFT and row.kind != "+" and row.old_line == line:
                return row
        return None

    def old_path(self, path: str) -> str:
        """Return the file's path before the MR."""
        return self._paths.get(path, (path, []))[0]


def line_code(path: str, row: Row) -> str:
    """Return GitLab's line code for a diff line."""
    return f"{hashlib.sha1(path.encode()).hexdigest()}_{row.old_counter}_{row.new_counter}"


def _point(path: str, row: Row) -> dict[str, Any]:
    return {"line_code": line_code(path, row), "type": "new" if row.kind == "+" else "old",
            "old_line": row.old_line, "new_line": row.new_line}


def position(comment: Comment, refs: Mapping[str, str], lines: LineMap) -> dict[str, Any] | None:
    """Return a diff note's position for a comment, or None when its line is not in the version's diff."""
    end = lines.row(comment.path, comment.side, comment.line)
    if end is None:
        return None
    out: dict[str, Any] = {"position_type": "text", "base_sha": refs["base_sha"], "start_sha": refs["start_sha"],
                           "head_sha": refs["head_sha"], "old_path": lines.old_path(comment.path),
                           "new_path": comment.path}
    out.update({k: v for k, v in (("old_line", end.old_line), ("new_line", end.new_line)) if v is not None})
    if comment.start_line is not None and comment.start_line != comment.line:
        start = lines.row(comment.path, comment.side, comment.start_line)
        if start is None:
            return None
        out["line_range"] = {"start": _point(comment.path, start), "end": _point(comment.path, end)}
    return out


def no_quick_actions(text: str) -> str:
    """Escape every line that starts with "/" (GitLab would run `/merge`, `/approve`... from it)."""
    return "\n".join(QUICK_ACTION.sub(r"\1\\/", line) for line in text.split("\n"))


def note_body(comment: Comment, overview: Overview) -> str:
    """Return a diff note's Markdown: the comment escaped, its suggestion as GitLab writes a range, fingerprints.

    A suggestion with a line that starts with "/" is left out: escaping it would change the code it proposes.
    """
    print_ = overview.prints.get(comment, "")
    text = render_comment(replace(comment, suggestion=None), base=overview.link_base, print_=print_).body
    head, _, prints = text.rpartition("\n\n")
    parts = [no_quick_actions(head)]
    if comment.suggestion is not None:
        if any(QUICK_ACTION.match(line) for line in comment.suggestion.split("\n")):
            parts.append("(A suggested change was left out: one of its lines starts with `/`, which GitLab "
                         "would run as a quick action.)")
        elif clean(comment.suggestion) != comment.suggestion:
            parts.append("(A suggested change was left out: it holds invisible control characters.)")
        else:
            above = comment.line - comment.start_line if comment.start_line is not None else 0
            fence = "`" * max(3, 1 + max((len(m) for m in re.findall(r"`+", comment.suggestion)), default=0))
            parts.append(f"{fence}suggestion:-{max(0, above)}+0\n{comment.suggestion}\n{fence}")
    parts.append(prints)
    return "\n\n".join(parts)
