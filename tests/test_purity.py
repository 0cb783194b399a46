"""The core stays pure: no SDK, web framework, socket, subprocess or environment inside it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BOT = Path(__file__).parent.parent / "bot"
PURE = ["batching", "classify", "diff", "errors", "incremental", "masking", "pr_flow", "prompting", "pull",
        "render", "reply", "report", "review", "settings", "severity", "spend", "summary", "tokens", "webhook",
        "records", "spend_report", "dashboard", "backoff"]
FORBIDDEN = {"github", "mistralai", "httpx", "httpx2", "requests", "flask", "socket", "subprocess", "urllib",
             "http", "os", "huey", "sqlalchemy", "redis"}
# Each adapter is the only module that imports its library.
OWNERS = {"github": {"github_client"}, "mistralai": {"mistral_client"}, "flask": {"server"},
          "subprocess": {"gitlocal", "serve"}, "huey": {"jobqueue"}, "sqlalchemy": {"ledger"},
          "prometheus_client": {"metrics"}, "gunicorn": {"serve"}}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_do_no_io(module: str) -> None:
    path = BOT / f"{module}.py"
    assert not _imports(path) & FORBIDDEN
    assert "os.environ" not in path.read_text(encoding="utf-8")


@pytest.mark.parametrize(("library", "owner"), sorted(OWNERS.items()))
def test_each_library_has_one_adapter(library: str, owner: set[str]) -> None:
    users = {p.stem for p in BOT.glob("*.py") if library in _imports(p)}
    assert users <= owner
