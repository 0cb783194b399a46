"""Host clients for the server: a GitHub App's installation clients or one token client, and the GitLab client."""

from __future__ import annotations

import threading

from bot.core.errors import UsageError
from bot.hosts.github.app import AppClients
from bot.hosts.github.client import GitHubClient
from bot.hosts.gitlab.client import GitLabClient
from bot.server.settings import ServerSettings


class Clients:
    """The GitHub client for a job's installation (App) or the operator's token, built once and cached."""

    def __init__(self, settings: ServerSettings) -> None:
        self._settings = settings
        self._apps = (AppClients(app_id=settings.app_id, private_key=settings.app_private_key or "",
                                 base_url=settings.github_api_url, write_interval_s=settings.github_write_interval_s)
                      if settings.app_id else None)
        self._token_client: GitHubClient | None = None
        self._gitlab: GitLabClient | None = None
        self._lock = threading.Lock()

    def for_installation(self, installation_id: int | None) -> GitHubClient:
        """Return the client that acts for an installation (or the token client)."""
        if self._apps is not None and installation_id is not None:
            return self._apps.for_installation(installation_id)
        with self._lock:
            if self._token_client is None:
                s = self._settings
                self._token_client = GitHubClient(token=s.github_token, base_url=s.github_api_url,
                                                  write_interval_s=s.github_write_interval_s)
            return self._token_client

    def may_request_review(self, repo: str, pr_number: int, login: str, installation_id: int | None) -> bool:
        """Tell whether `login` has write access to `repo` (who may ask for a /review)."""
        pr = self.for_installation(installation_id).pull(repo, pr_number)
        return pr.may_request_review(login)

    def gitlab(self) -> GitLabClient:
        """Return the GitLab client (GITLAB_TOKEN on GITLAB_URL), built once."""
        settings = self._settings.gitlab
        if settings is None:
            raise UsageError("a GitLab job, but GitLab is not configured here (GITLAB_TOKEN, GITLAB_WEBHOOK_SECRET)")
        with self._lock:  # the token's kind was checked at start (ServerSettings.check_hosts)
            if self._gitlab is None:
                self._gitlab = GitLabClient(token=settings.token, url=settings.url,
                                            write_interval_s=settings.write_interval_s, max_wait_s=settings.max_wait_s)
            return self._gitlab
