"""The self-hosted webhook server: Flask app, worker, queue, ledger, metrics, dashboard, serve."""

from __future__ import annotations

from importlib.util import find_spec

from bot.core.errors import UsageError

# What the `server` extra installs, by import name (bot/server imports each of them).
SERVER_LIBRARIES = ("flask", "gunicorn", "sqlalchemy", "alembic", "huey", "redis", "psycopg", "prometheus_client")


def require_server_extra(command: str) -> None:
    """Refuse a server command in one line when the `server` extra is not installed."""
    missing = [name for name in SERVER_LIBRARIES if find_spec(name) is None]
    if missing:
        raise UsageError(f"`{command}` needs the server extra ({', '.join(missing)} missing): "
                         f"pip install 'mistral-review[server]'")
