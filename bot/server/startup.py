"""What `serve`, `worker` and `spend` check before they start: a data dir, a ledger and a queue that answer.

An operator's mistake (a database that is down, a wrong port, a folder they cannot write) is one line and exit 2,
never a traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import redis.exceptions
import sqlalchemy.exc

from bot.core.errors import UsageError
from bot.server.settings import ServerSettings

T = TypeVar("T")

# Errors of a store that cannot be reached or a URL that cannot be used; anything else is a bug and stays loud.
UNREACHABLE = (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError, sqlalchemy.exc.ArgumentError,
               sqlalchemy.exc.NoSuchModuleError, redis.exceptions.RedisError)


def _reason(exc: BaseException, settings: ServerSettings) -> str:
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines() or [type(cause).__name__]
    line = lines[0]
    for secret in (settings.database_url, settings.redis_url):
        if secret:
            line = line.replace(secret, "<url>")
    return line


def reach(settings: ServerSettings, connect: Callable[[], T]) -> T:
    """Run `connect` (open, migrate, ping); a ledger or queue that cannot be reached becomes a UsageError."""
    try:
        return connect()
    except UNREACHABLE as exc:
        if isinstance(exc, redis.exceptions.RedisError):
            where = "REDIS_URL"
        else:
            where = "DATABASE_URL" if settings.database_url else f"the ledger in {settings.data_dir}"
        raise UsageError(f"cannot reach {where}: {_reason(exc, settings)}") from None


def make_data_dir(settings: ServerSettings) -> None:
    """Create the data dir, or say in one line why it cannot be created."""
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the data dir {settings.data_dir}: {exc.strerror} "
                         f"(set MISTRAL_REVIEW_DATA_DIR)") from None
