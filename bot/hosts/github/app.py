"""GitHub App authentication: a JWT for the App, then one cached client per installation."""

from __future__ import annotations

import threading

from github import Auth, GithubIntegration

from bot.hosts.github.client import GitHubClient


class AppClients:
    """Clients for a GitHub App's installations: JWT, then installation tokens that PyGithub
    caches and renews shortly before they expire; one client per installation."""

    def __init__(self, *, app_id: int, private_key: str, base_url: str = "https://api.github.com",
                 write_interval_s: float = 1.0) -> None:
        self._auth = Auth.AppAuth(app_id, private_key)
        self._write_interval_s = write_interval_s
        self._base_url = base_url.rstrip("/")
        self._clients: dict[int, GitHubClient] = {}
        self._identity: str | None = None
        self._lock = threading.Lock()

    def identity(self) -> str:
        """Return the App's bot login (`<slug>[bot]`)."""
        if self._identity is None:
            integration = GithubIntegration(auth=self._auth, base_url=self._base_url)
            slug = GitHubClient(token="unused", base_url=self._base_url).call(
                "read the App", lambda: integration.get_app().slug)
            self._identity = f"{slug}[bot]"
        return self._identity

    def for_installation(self, installation_id: int) -> GitHubClient:
        """Return the (cached) client acting as one installation."""
        with self._lock:
            if installation_id not in self._clients:
                self._clients[installation_id] = GitHubClient(
                    auth=self._auth.get_installation_auth(installation_id), base_url=self._base_url,
                    identity=self.identity(), write_interval_s=self._write_interval_s)
            return self._clients[installation_id]
