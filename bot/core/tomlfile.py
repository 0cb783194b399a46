"""TOML documents anyone may write (a repo's config, an eval case, the operator's file), read within bounds. Pure.

tomllib raises more than TOMLDecodeError: RecursionError for arrays or inline tables nested a few hundred deep,
ValueError for an integer of more than 4,300 digits. Each becomes a TomlError whose message reads after "is".
"""

from __future__ import annotations

import tomllib
from typing import Any

MAX_TOML_BYTES = 256 * 1024  # a config or a case is a few hundred bytes; this leaves room and bounds the parse


class TomlError(ValueError):
    """A TOML document that cannot be used; the message is one line ("not valid TOML (...)", "over ... bytes")."""


def load_toml(data: bytes | str, *, max_bytes: int = MAX_TOML_BYTES) -> dict[str, Any]:
    """Parse a TOML document of at most `max_bytes` (characters, for text); raise TomlError for any problem."""
    if len(data) > max_bytes:
        raise TomlError(f"over {max_bytes:,} bytes")
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise TomlError(f"not UTF-8 (byte {exc.start})") from None
    try:
        return tomllib.loads(text)
    except RecursionError:
        raise TomlError("not valid TOML (nested too deeply)") from None
    except ValueError as exc:  # TOMLDecodeError, and the integer-digits limit
        raise TomlError(f"not valid TOML ({str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__})") from None
