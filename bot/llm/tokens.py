"""Token counts with Mistral's Tekken tokenizer, loaded once per process from mistral-common.

Small 4's own tokenizer is newer than the files mistral-common ships, so counts are
close, not exact: budgets keep a safety margin and the API's `usage` is the bill.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import mistral_common
from mistral_common.protocol.instruct.messages import SystemMessage, UserMessage
from mistral_common.protocol.instruct.request import ChatCompletionRequest
from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

_DATA = Path(mistral_common.__file__).parent / "data"


def newest_tekken_file(data_dir: Path = _DATA) -> Path:
    """Return the newest Tekken file shipped in mistral-common (names carry a date)."""
    files = sorted(data_dir.glob("tekken_*.json"), key=lambda p: re.sub(r"\D", "", p.name))
    if not files:
        raise RuntimeError(f"no Tekken tokenizer file in {data_dir}")
    return files[-1]


class TekkenCounter:
    """A token counter over one loaded Tekken tokenizer."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._chat = MistralTokenizer.from_file(str(path))
        self._raw = self._chat.instruct_tokenizer.tokenizer

    def text(self, text: str) -> int:
        """Return the number of tokens of a piece of text."""
        return len(self._raw.encode(text, bos=False, eos=False))

    def request(self, system: str, user: str) -> int:
        """Return the number of tokens of a system + user request, control tokens included."""
        messages: list[Any] = [SystemMessage(content=system), UserMessage(content=user)]
        request: ChatCompletionRequest[Any] = ChatCompletionRequest(messages=messages)
        return len(self._chat.encode_chat_completion(request).tokens)


@functools.cache
def default_counter() -> TekkenCounter:
    """Return the process-wide counter, loading the tokenizer on first use."""
    return TekkenCounter(newest_tekken_file())
