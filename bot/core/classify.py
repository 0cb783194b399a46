"""Which files are worth model tokens, and which must never leave the machine.

Pure: decisions are functions of a path and the glob lists passed in.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from functools import lru_cache

from pathspec import GitIgnoreSpec

from bot.core.diff import FileDiff

DEFAULT_IGNORE: tuple[str, ...] = (
    # lock files
    "*.lock", "package-lock.json", "npm-shrinkwrap.json", "pnpm-lock.yaml", "go.sum",
    "Pipfile.lock", "poetry.lock", "uv.lock", "Cargo.lock", "Gemfile.lock", "composer.lock",
    # minified, generated, snapshots
    "*.min.js", "*.min.css", "*.map", "*.pb.go", "*_pb2.py", "*_pb2_grpc.py", "*.generated.*",
    "**/generated/**", "*.snap", "*.svg",
    # vendored folders
    "vendor/**", "**/vendor/**", "third_party/**", "**/third_party/**", "node_modules/**",
    "**/node_modules/**", "**/_vendor/**", "**/vendored/**",
)

DEFAULT_SECRET_FILES: tuple[str, ...] = (
    ".env", ".env.*", "*.env", "*.pem", "*.key", "*.p12", "*.pfx", "*.jks", "*.keystore",
    "id_rsa", "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*", "*.kdbx", ".npmrc", ".pypirc",
    ".netrc", "credentials.json", "*service-account*.json", ".htpasswd",
)


class SkipReason(str, enum.Enum):
    """Why a file (or part of one) was not sent to the model."""

    IGNORED = "ignored"
    SECRET_FILE = "secret-file"
    BINARY = "binary"
    NO_CHANGES = "no-changes"
    OVER_BUDGET = "over-budget"
    NOT_LISTED = "not-listed"
    TOO_LARGE = "too-large"


class GlobError(ValueError):
    """A glob that is not valid gitignore syntax."""


@lru_cache(maxsize=64)
def _spec(patterns: tuple[str, ...]) -> GitIgnoreSpec:
    try:
        return GitIgnoreSpec.from_lines(patterns)
    except ValueError as exc:  # pathspec's pattern errors are ValueErrors
        raise GlobError(f"not a valid glob: {exc}") from None


def check_globs(patterns: Sequence[str]) -> None:
    """Raise GlobError for a pattern that is not valid gitignore syntax."""
    _spec(tuple(patterns))


def matches(path: str, patterns: Sequence[str]) -> bool:
    """Return whether a path is matched, with .gitignore rules: `**`, `!` negation (last match wins), `/` anchors."""
    return bool(patterns) and _spec(tuple(patterns)).match_file(path)


def file_skip_reason(
    file: FileDiff, *, ignore: Sequence[str], secret_files: Sequence[str] = DEFAULT_SECRET_FILES
) -> SkipReason | None:
    """Return why a file is not reviewed, or None when it is."""
    if matches(file.path, secret_files):
        return SkipReason.SECRET_FILE
    if file.binary:
        return SkipReason.BINARY
    if matches(file.path, ignore):
        return SkipReason.IGNORED
    if not file.changed_count:
        return SkipReason.NO_CHANGES
    return None


def priority(path: str) -> int:
    """Rank a path for review when the budget cannot cover everything: source 0, tests 1, docs 2."""
    lower = path.lower()
    name = lower.rsplit("/", 1)[-1]
    if lower.endswith((".md", ".rst", ".txt", ".adoc")) or lower.startswith(("docs/", "doc/")) or "/docs/" in lower:
        return 2
    if name.startswith("test_") or name.endswith(("_test.py", "_test.go", ".test.js", ".test.ts", ".spec.ts", ".spec.js")) \
            or lower.startswith(("tests/", "test/")) or "/tests/" in lower or "/test/" in lower:
        return 1
    return 0
