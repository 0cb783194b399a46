"""Load an evaluation suite: a folder of `<id>.diff` + `<id>.toml` pairs (the shipped one by default)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.core.diff import DiffError, FileDiff, parse_diff
from bot.core.errors import UsageError
from bot.core.eval_scoring import CaseError, CaseSpec, parse_case

SHIPPED = Path(__file__).resolve().parent / "cases"


@dataclass(frozen=True)
class Case:
    """One case: its spec and its parsed diff."""

    spec: CaseSpec
    files: tuple[FileDiff, ...]


def _load(toml_path: Path) -> Case:
    case_id = toml_path.stem
    diff_path = toml_path.with_suffix(".diff")
    try:
        spec = parse_case(case_id, toml_path.read_text(encoding="utf-8"))
        files = tuple(parse_diff(diff_path.read_bytes()))
    except CaseError as exc:
        raise UsageError(str(exc)) from None
    except DiffError as exc:
        raise UsageError(f"case {case_id}: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"case {case_id}: cannot read {diff_path.name if isinstance(exc, FileNotFoundError) else toml_path.name}"
                         f" ({getattr(exc, 'strerror', None) or exc})") from None
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
