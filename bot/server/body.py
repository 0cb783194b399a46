"""Reading a webhook's body within a size limit, however it arrives (Content-Length or chunked)."""

from __future__ import annotations

from flask import request
from werkzeug.exceptions import RequestEntityTooLarge

READ_CHUNK = 64 * 1024


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
