"""Scripted model replies for the Mistral double: comments that cite lines of the batch they answer."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from tests.doubles.mistral import Reply

LINE = re.compile(r"^\+(?:(\d+)\|)?(.*)$")
FILE = re.compile(r"^### (\S+)")


def added_lines(body: dict[str, Any]) -> list[tuple[str, int, str]]:
    """Return (path, line, text) of every added line in a request's diff (a run's later lines count on)."""
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    diff = user.split("<diff>\n", 1)[1].split("\n</diff>", 1)[0]
    found: list[tuple[str, int, str]] = []
    path, number = "", 0
    for row in diff.splitlines():
        if m := FILE.match(row):
            path = m[1]
        elif m := LINE.match(row):
            number = int(m[1]) if m[1] is not None else number + 1
            found.append((path, number, m[2]))
    return found


def comment(path: str, line: int, text: str, *, severity: str = "major", body: str = "This is wrong.",
            offset: int = 0, **extra: Any) -> dict[str, Any]:
    """Return one comment as the model would write it (optionally citing a line `offset` away)."""
    return {"path": path, "line": line + offset, "side": "RIGHT", "quote": text, "severity": severity,
            "body": body, **extra}


def first_added(severity: str = "major", body: str | None = None, **extra: Any) -> Callable[[dict[str, Any], int], Reply]:
    """A responder that comments on the first added line of each batch."""
    def respond(request: dict[str, Any], attempt: int) -> Reply:
        lines = added_lines(request)
        if not lines:
            return Reply()
        path, line, text = lines[0]
        return Reply(json.dumps({"comments": [comment(path, line, text, severity=severity,
                                                      body=body or f"Problem in {path}.", **extra)]}))

    return respond
