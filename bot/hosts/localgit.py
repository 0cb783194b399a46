"""The local git adapter: the diff of the current branch since its merge base."""

from __future__ import annotations

import subprocess
from pathlib import Path

from bot.core.errors import UsageError

# Fixed so that no user or repo setting (diff.noprefix, diff.mnemonicPrefix, core.quotepath, color.ui,
# diff.external, diff.relative, a textconv driver) changes the text we parse.
DIFF_ARGS = ("-c", "core.quotepath=false", "diff", "--no-color", "--no-ext-diff", "--no-textconv", "--no-relative",
             "--src-prefix=a/", "--dst-prefix=b/", "-M")


def _git(*args: str, cwd: Path) -> str | None:
    """Run git; return its output, or None when it fails."""
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=False, check=False)
    return done.stdout.decode("utf-8", errors="replace").strip() if done.returncode == 0 else None


def default_base(cwd: Path) -> str:
    """Return the remote's default branch, else `main`, else `master`."""
    remote_head = _git("symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD", cwd=cwd)
    if remote_head:
        return remote_head
    for name in ("main", "master"):
        if _git("rev-parse", "--verify", "--quiet", f"{name}^{{commit}}", cwd=cwd) is not None:
            return name
    raise UsageError("no base branch found (tried origin/HEAD, main, master); pass --base REF")


def file_at(cwd: Path, ref: str, path: str) -> bytes | None:
    """Return a file's bytes at a ref, or None when it is not there."""
    done = subprocess.run(["git", "show", f"{ref}:{path}"], cwd=cwd, capture_output=True, check=False)
    return done.stdout if done.returncode == 0 else None


def branch_diff(cwd: Path, base: str | None) -> tuple[bytes, str]:
    """Return the committed changes of HEAD since its merge base with `base`, and that base ref."""
    if _git("rev-parse", "--git-dir", cwd=cwd) is None:
        raise UsageError(f"{cwd} is not a git repository; use --diff-file to review a diff")
    ref = base or default_base(cwd)
    if _git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", cwd=cwd) is None:
        raise UsageError(f"base ref {ref!r} not found in this repository")
    merge_base = _git("merge-base", ref, "HEAD", cwd=cwd)
    if not merge_base:
        raise UsageError(f"HEAD has no common history with {ref!r}")
    done = subprocess.run(["git", *DIFF_ARGS, f"{merge_base}..HEAD"], cwd=cwd, capture_output=True, check=False)
    if done.returncode != 0:
        raise UsageError(f"git diff failed: {done.stderr.decode(errors='replace').strip().splitlines()[-1:]}")
    return done.stdout, ref
