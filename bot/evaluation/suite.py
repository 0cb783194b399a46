"""Load an evaluation suite: a folder of `<id>.diff` + `<id>.toml` pairs (the shipped one by default)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.core.diff import DiffError, FileDiff, decode, parse_diff
from bot.core.errors import UsageError
from bot.core.eval_scoring import CaseError, CaseSpec, parse_case
from bot.core.tomlfile import MAX_TOML_BYTES

SHIPPED = Path(__file__).resolve().parent / "cases"


@dataclass(frozen=True)
class Case:
    """One case: its spec and its parsed diff."""

    spec: CaseSpec
    files: tuple[FileDiff, ...]


def _read(path: Path, case_id: str, limit: int = -1) -> bytes:
    """Read a case's file; with `limit`, no more than that many bytes (one more, so oversize shows)."""
    try:
        with path.open("rb") as handle:
            return handle.read(limit if limit < 0 else limit + 1)
    except OSError as exc:
        raise UsageError(f"case {case_id}: cannot read {path.name} ({exc.strerror})") from None


def _load(toml_path: Path) -> Case:
    case_id = toml_path.stem
    diff_path = toml_path.with_suffix(".diff")
    try:
        spec = parse_case(case_id, decode(_read(toml_path, case_id, MAX_TOML_BYTES)))
        files = tuple(parse_diff(_read(diff_path, case_id)))
    except CaseError as exc:
        raise UsageError(str(exc)) from None
    except DiffError as exc:
        raise UsageError(f"case {case_id}: {exc}") from None
    if not files:
        raise UsageError(f"case {case_id}: {diff_path.name} holds no changes")
    return Case(spec, files)


def load_cases(folder: Path | None = None) -> list[Case]:
    """Load every case of a folder, sorted by id; a bad or empty folder is a usage error."""
    folder = SHIPPED if folder is None else folder
    if not folder.is_dir():
        raise UsageError(f"--cases: {folder} is not a folder")
    cases = [_load(p) for p in sorted(folder.glob("*.toml"))]
    if not cases:
        raise UsageError(f"--cases: no <id>.toml + <id>.diff cases in {folder}")
    return cases
