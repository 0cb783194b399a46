"""GitLab's formats, as pure functions: diff-note positions from the change set's rows, and note bodies
that cannot run quick actions.

Positions follow GitLab's check: the `(old_line, new_line)` pair of a real line of the version's diff
(added: new only, removed: old only, context: both); a range adds `line_range` with line codes
`sha1(path)_old_new`, where an added line carries the old counter and a removed line the new one.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from bot.core.changes import Positions, RowPosition
from bot.core.diff import LineKind
from bot.core.markdown import clean
from bot.core.reply import Comment
from bot.core.summary import Overview
from bot.review.markdown import render_comment

QUICK_ACTION = re.compile(r"^(\s*)/")


def line_code(row: RowPosition) -> str:
    """Return GitLab's line code for a diff row: sha1 of its path, then its old and new counters."""
    return f"{hashlib.sha1(row.path.encode()).hexdigest()}_{row.old_at}_{row.new_at}"


def _point(row: RowPosition) -> dict[str, Any]:
    return {"line_code": line_code(row), "type": "new" if row.row.kind is LineKind.ADDED else "old",
            "old_line": row.row.old_no, "new_line": row.row.new_no}


def position(comment: Comment, refs: Mapping[str, str], lines: Positions) -> dict[str, Any] | None:
    """Return a diff note's position for a comment, or None when its line is not in the version's diff."""
    end = lines.at(comment.path, comment.side, comment.line)
    if end is None:
        return None
    out: dict[str, Any] = {"position_type": "text", "base_sha": refs["base_sha"], "start_sha": refs["start_sha"],
                           "head_sha": refs["head_sha"], "old_path": lines.old_path(comment.path),
                           "new_path": comment.path}
    out.update({k: v for k, v in (("old_line", end.row.old_no), ("new_line", end.row.new_no)) if v is not None})
    if comment.start_line is not None and comment.start_line != comment.line:
        start = lines.at(comment.path, comment.side, comment.start_line)
        if start is None:
            return None
        out["line_range"] = {"start": _point(start), "end": _point(end)}
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
