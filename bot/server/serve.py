"""`mistral-review serve` and `worker`: gunicorn (the only module that imports it) plus job workers."""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

from gunicorn.app.base import BaseApplication

from bot.core.errors import UsageError
from bot.core.settings import Settings
from bot.server.logs import setup_json_logging
from bot.server.queue import JobQueue
from bot.server.settings import ServerSettings
from bot.server.startup import make_data_dir, reach

log = logging.getLogger("mistral_review.serve")
# gthread: each worker process serves this many connections at once, so a few slow clients (a slow network, or
# someone trickling bytes on purpose) hold threads, not whole processes; idle keep-alive sockets wait in a poller.
THREADS_PER_WORKER = 32


def gunicorn_options(host: str, port: int, workers: int) -> dict[str, Any]:
    """Return the gunicorn settings `serve` runs with (the slow-clients bench uses the same)."""
    return {"bind": f"{host}:{port}", "workers": workers, "worker_class": "gthread", "threads": THREADS_PER_WORKER,
            "keepalive": 5, "timeout": 30, "accesslog": None, "loglevel": "warning"}


def _secrets(settings: ServerSettings, review: Settings) -> list[str]:
    gitlab = settings.gitlab
    more = (gitlab.secret, gitlab.signing_token, gitlab.token) if gitlab else ()
    return [s for s in (settings.webhook_secret, settings.github_token, settings.app_private_key,
                        settings.dashboard_token, review.api_key, settings.database_url, settings.redis_url, *more) if s]


def _review_settings(env: Mapping[str, str]) -> Settings:
    review = Settings.from_env(env)
    if not review.api_key:
        raise UsageError("MISTRAL_API_KEY is not set")
    return review


def drop_privileges(user: str) -> None:
    """Become `user` for good (the image runs as root because GitHub's Docker actions must)."""
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise UsageError(f"no such user {user!r} to run as") from None
    os.setgroups([])
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)


def build_app(settings: ServerSettings) -> Any:
    """Open the ledger and queue and build the Flask app over them."""
    from bot.server.app import create_app
    from bot.server.metrics import Metrics
    from bot.server.stats import ledger_stats
    from bot.server.worker import open_ledger

    ledger = open_ledger(settings)
    queue = JobQueue.open(data_dir=settings.data_dir, redis_url=settings.redis_url)
    metrics = Metrics(lambda: ledger_stats(ledger, settings), per_repo=settings.metrics_per_repo)
    return create_app(settings, ledger=ledger, queue=queue, metrics=metrics)


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    """Run the app under gunicorn without a config file."""

    def __init__(self, settings: ServerSettings, options: dict[str, Any]) -> None:
        self._settings, self._options = settings, options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return build_app(self._settings)


def _say_listening(arbiter: Any) -> None:
    """gunicorn's when_ready hook: print the address once the sockets are bound."""
    for listener in arbiter.LISTENERS:
        print(f"mistral-review: listening on {listener}", flush=True)


def check_stores(settings: ServerSettings) -> None:
    """Open (and migrate) the ledger and ping the queue; one line and exit 2 when either cannot be reached."""
    from bot.server.worker import open_ledger

    if not (settings.database_url and settings.redis_url):
        make_data_dir(settings)
    reach(settings, lambda: open_ledger(settings)).close()  # holds no connection into the fork
    reach(settings, lambda: JobQueue.open(data_dir=settings.data_dir, redis_url=settings.redis_url).ping())


def serve(env: Mapping[str, str], *, host: str, port: int, workers: int, no_worker: bool, dev: bool,
          insecure_no_signature: bool, run_as: str | None) -> int:
    """Run the webhook server (and, unless told not to, one job worker beside it)."""
    if run_as and os.geteuid() == 0:
        drop_privileges(run_as)
    settings = ServerSettings.from_env(env, insecure_no_signature=insecure_no_signature, dev=dev)
    settings.check_can_serve()
    review = _review_settings(env)
    setup_json_logging(_secrets(settings, review))
    if insecure_no_signature:
        log.warning("INSECURE: serving without webhook signature checks; never do this on a reachable address")
    make_data_dir(settings)
    if not dev and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # gunicorn workers are processes: their counters meet in files (set before the client loads)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(settings.data_dir / "metrics")
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)  # counts restart with the server
        os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    check_stores(settings)
    child = None
    if not no_worker:
        child = subprocess.Popen([sys.executable, "-m", "bot.cli", "worker"], env=dict(env))
    try:
        if dev:
            print(f"mistral-review: listening on http://{host}:{port} (development server)", flush=True)
            build_app(settings).run(host=host, port=port, threaded=True)
        else:
            options = {**gunicorn_options(host, port, workers), "when_ready": _say_listening}
            _Gunicorn(settings, options).run()
    finally:
        if child is not None:
            child.send_signal(signal.SIGTERM)
            child.wait(timeout=30)
    return 0


def worker(env: Mapping[str, str], *, threads: int) -> int:
    """Run a job worker alone (more machines: point them at the same REDIS_URL and DATABASE_URL)."""
    from bot.server.worker import run_worker

    settings = ServerSettings.from_env(env)
    settings.check_hosts()
    review = _review_settings(env)
    setup_json_logging(_secrets(settings, review))
    check_stores(settings)
    run_worker(settings, review, threads=threads)
    return 0
