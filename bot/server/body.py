"""A webhook's body for both hosts' routes: read within a size limit (Content-Length or chunked), then parsed."""

from __future__ import annotations

import json
from typing import Any

from flask import request
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge

READ_CHUNK = 64 * 1024
Answer = tuple[int, dict[str, Any]]  # an HTTP status and its JSON body


def read_body(limit: int) -> bytes | None:
    """Read the current request's body; None as soon as it is over `limit` bytes (BadRequest when it ends early)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks, size = [], 0
    try:
        while chunk := request.stream.read(READ_CHUNK):
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
    except RequestEntityTooLarge:
        return None
    return b"".join(chunks)


def limited_body(limit: int) -> bytes | Answer:
    """Return the current request's body, or the 400 (cut short) or 413 (over `limit` bytes) that answers it."""
    try:
        raw = read_body(limit)
    except BadRequest:
        return 400, {"error": "the body ended early or its chunked encoding is broken"}
    return (413, {"error": f"body over {limit} bytes"}) if raw is None else raw


def json_object(raw: bytes) -> dict[str, Any] | Answer:
    """Return the body as a JSON object, or the 400 that says why it is not one."""
    try:
        payload = json.loads(raw)
    except ValueError:
        return 400, {"error": "body is not JSON"}
    except RecursionError:
        return 400, {"error": "body is nested too deeply"}
    return payload if isinstance(payload, dict) else (400, {"error": "body is not a JSON object"})
