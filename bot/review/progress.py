"""Progress on stderr: units (batches, eval cases) as they finish, and a heartbeat while the model is silent.

On a terminal the line is rewritten in place; anywhere else (a CI log, a file) every report is a line of its
own, so logs never get `\\r` fragments glued together. While units are outstanding, a heartbeat line such as
`waiting for the model: batch 2/5, 45 s` is written every `interval_s` seconds, so a server that accepts and
never answers is not mistaken for a hung command.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TextIO

from bot.core.errors import UsageError

HEARTBEAT_ENV = "MISTRAL_REVIEW_HEARTBEAT_S"
DEFAULT_HEARTBEAT_S = 15.0


def heartbeat_interval(env: Mapping[str, str]) -> float:
    """Return the seconds between heartbeat lines: MISTRAL_REVIEW_HEARTBEAT_S, else 15."""
    raw = env.get(HEARTBEAT_ENV, "").strip()
    if not raw:
        return DEFAULT_HEARTBEAT_S
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not 0 < value <= 3600:
        raise UsageError(f"{HEARTBEAT_ENV} must be a number of seconds between 0 and 3600, not {raw!r}")
    return value


def progress_maker(stream: TextIO, env: Mapping[str, str], *, verb: str = "reviewing", noun: str = "batch",
                   plural: str = "batch(es)") -> Callable[[int], Progress]:
    """Return a maker of progress on `stream` given the number of units (a review's batches unless named otherwise;
    the heartbeat's interval from env, checked now)."""
    interval = heartbeat_interval(env)
    return lambda total: Progress(stream, verb=verb, noun=noun, plural=plural, total=total, interval_s=interval)


class Progress:
    """Report `done/total` as units finish and, while any is outstanding, a heartbeat every `interval_s`."""

    def __init__(self, stream: TextIO, *, verb: str, noun: str, plural: str, total: int,
                 interval_s: float = DEFAULT_HEARTBEAT_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._stream, self._verb, self._noun, self._plural = stream, verb, noun, plural
        self._done, self._total, self._interval, self._clock = 0, total, interval_s, clock
        self._terminal = bool(getattr(stream, "isatty", lambda: False)())
        self._lock, self._stop = threading.Lock(), threading.Event()
        self._started = clock()
        self._thread = threading.Thread(target=self._beat, name="progress-heartbeat", daemon=True)

    def __enter__(self) -> Progress:
        if self._total:
            self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def update(self, done: int, total: int) -> None:
        """Say that `done` of `total` units have finished (the review flow's `on_progress`)."""
        with self._lock:
            self._done, self._total = done, total
            self._write(f"{self._verb}: {done}/{total} {self._plural} done", last=done >= total)

    def _beat(self) -> None:
        while not self._stop.wait(self._interval):
            with self._lock:
                if self._done >= self._total:
                    return
                waited = round(self._clock() - self._started)
                self._write(f"waiting for the model: {self._noun} {self._done + 1}/{self._total}, {waited} s",
                            last=False)

    def _write(self, text: str, *, last: bool) -> None:
        if self._terminal:  # rewrite the one line; erase what a longer line left
            self._stream.write(f"\r{text}\x1b[K" + ("\n" if last else ""))
        else:
            self._stream.write(text + "\n")
        self._stream.flush()
