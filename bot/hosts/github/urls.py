"""GitHub's web address for an API address (github.com, GitHub Enterprise Server and GHE.com). Pure."""

from __future__ import annotations


def pull_web_url(web: str, repo: str, number: int) -> str:
    """Return a pull request's web address on a GitHub whose web address is `web` (ending in `/`)."""
    return f"{web}{repo}/pull/{number}"


def web_url(api_url: str) -> str:
    """Return the web address that goes with an API address: `https://api.github.com` -> `https://github.com/`,
    GitHub Enterprise's `https://HOST/api/v3` -> `https://HOST/`, a test double's own address as it is."""
    scheme, _, rest = api_url.rstrip("/").partition("://")
    host, _, path = rest.partition("/")
    host = host.removeprefix("api.")  # api.github.com, and GHE.com's api.SUBDOMAIN.ghe.com
    return f"{scheme}://{host}/{path.removesuffix('api/v3').strip('/')}".rstrip("/") + "/"
