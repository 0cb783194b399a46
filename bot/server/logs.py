"""JSON log lines carrying the delivery id, with secrets masked out of every message."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from collections.abc import Iterable

from bot.core.masking import MASK, mask_line

delivery_id: contextvars.ContextVar[str] = contextvars.ContextVar("delivery_id", default="")
MAX_DELIVERY = 200


def clean_delivery(value: str | None) -> str:
    """Return a delivery id header as the ledger and the logs keep it: printable characters, at most 200."""
    return "".join(ch for ch in (value or "")[:MAX_DELIVERY] if ch.isprintable())


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, delivery id, message; known secrets masked."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s and len(s) >= 6]

    def _clean(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return mask_line(text)[0]

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as one JSON line."""
        message = record.getMessage()
        if record.exc_info:
            message += " | " + self.formatException(record.exc_info).replace("\n", " | ")
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "delivery": getattr(record, "delivery", "") or delivery_id.get(),
            "msg": self._clean(message),
        }
        return json.dumps(entry, ensure_ascii=False)


def setup_json_logging(secrets: Iterable[str] = (), level: int = logging.INFO) -> None:
    """Send every log line to stderr as JSON."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("urllib3", "httpx", "httpx2", "github", "huey"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
