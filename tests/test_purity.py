"""The folder listing is the architecture: each package imports only what its room allows.

Checked by path and with `ast`, so a new module under `bot/core/` is held to the rules without a list to keep.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BOT = Path(__file__).parent.parent / "bot"

# What the pure core may not import: anything that reaches a network, a database, a web framework, an SDK,
# the process environment, the file system or the clock.
IMPURE = {"github", "gitlab", "mistralai", "mistral_common", "httpx", "httpx2", "requests", "flask", "werkzeug",
          "jinja2", "socket", "subprocess", "urllib", "http", "os", "sys", "io", "pathlib", "shutil", "tempfile",
          "time", "datetime", "random", "secrets", "threading", "asyncio", "concurrent", "logging", "huey",
          "sqlalchemy", "alembic", "redis", "psycopg", "prometheus_client", "gunicorn", "tenacity", "platformdirs"}
IMPURE_CALLS = {"open", "input", "print", "exec", "eval", "__import__"}

# Each adapter library is imported under one package (or module) only.
OWNERS = {
    "github": "bot.hosts.github", "requests": "bot.hosts.github", "gitlab": "bot.hosts.gitlab",
    "mistralai": "bot.llm", "httpx2": "bot.llm", "httpx": "bot.llm", "mistral_common": "bot.llm",
    "flask": "bot.server", "werkzeug": "bot.server", "huey": "bot.server", "sqlalchemy": "bot.server",
    "alembic": "bot.server", "redis": "bot.server", "psycopg": "bot.server", "prometheus_client": "bot.server",
    "gunicorn": "bot.server", "platformdirs": "bot.server", "tenacity": "bot.retry", "unidiff": "bot.core", "pathspec": "bot.core",
}

# Which bot packages each room may import (its own always allowed). Entry points (bot.cli, bot.action) import any.
LAYERS = {
    "bot.core": set(),
    "bot.retry": set(),
    "bot.review": {"bot.core"},
    "bot.llm": {"bot.core", "bot.retry"},
    "bot.hosts": {"bot.core", "bot.review", "bot.retry"},
    "bot.server": {"bot.core", "bot.review", "bot.llm", "bot.hosts", "bot.retry"},
    "bot.evaluation": {"bot.core", "bot.review", "bot.llm", "bot.retry"},
}


def _module(path: Path) -> str:
    return ".".join(path.relative_to(BOT.parent).with_suffix("").parts).removesuffix(".__init__")


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def _imports(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def _room(module: str) -> str | None:
    return next((room for room in sorted(LAYERS, key=len, reverse=True) if module == room or module.startswith(room + ".")), None)


MODULES = sorted(BOT.rglob("*.py"))
CORE = [p for p in MODULES if _module(p).startswith("bot.core")]


@pytest.mark.parametrize("path", CORE, ids=lambda p: _module(p))
def test_core_does_no_io(path: Path) -> None:
    tree = _tree(path)
    assert {name.split(".")[0] for name in _imports(tree)} & IMPURE == set()
    calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert calls & IMPURE_CALLS == set()
    attributes = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert {"environ", "getenv", "read_text", "read_bytes", "open"} & attributes == set()


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module(p))
def test_each_package_imports_only_its_layers(path: Path) -> None:
    module = _module(path)
    room = _room(module)
    for name in _imports(_tree(path)):
        top = name.split(".")[0]
        if top in OWNERS:
            owner = OWNERS[top]
            assert module == owner or module.startswith(owner + "."), f"{module} imports {name}, which belongs to {owner}"
        if top == "bot" and room is not None:
            target = _room(name)
            assert target is not None and (target == room or target in LAYERS[room]), f"{module} ({room}) imports {name}"


def test_the_core_is_a_folder_of_pure_modules() -> None:
    assert len(CORE) >= 10
