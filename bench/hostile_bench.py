"""Benchmark hostile input: masking a 100 KB line of secret words, and a dry run of a 50 MB one-line diff.

Both are ratios against a baseline measured in the same run, because these machines are noisy:
- masking: 100 KB lines made of one secret word repeated (`password`, `password=`, `sk-`, `-----BEGIN`,
  `AKIA`, `://user:`), against a 100 KB line of ordinary code;
- size: `mistral-review review --dry-run` of a 50 MB one-line diff (one new file), against the same command on
  a one-line diff (the tokenizer's load is most of that), as peak resident memory and wall time of each process.
Run: python bench/hostile_bench.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.core.masking import mask_line  # noqa: E402

LINE = 100_000
WORDS = ("password", "password=", "sk-", "-----BEGIN ", "AKIA", "://user:")
CODE = "total = sum(item.price * item.quantity for item in basket.items if item.in_stock)  # noqa\n"


def _median_seconds(text: str, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        mask_line(text)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _one_file_diff(body: str) -> str:
    return ("diff --git a/big.txt b/big.txt\nnew file mode 100644\nindex 0000000..1111111\n--- /dev/null\n"
            f"+++ b/big.txt\n@@ -0,0 +1 @@\n+{body}\n")


def _dry_run(diff: Path) -> tuple[float, int]:
    """Return (wall seconds, peak resident KB) of one `review --dry-run` process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "review", "--dry-run", "--diff-file", str(diff)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - start, usage.ru_maxrss


def main() -> None:
    """Print both tables."""
    base = _median_seconds((CODE * (LINE // len(CODE) + 1))[:LINE])
    print(f"masking, 100 KB line: baseline (ordinary code) {base * 1000:.1f} ms")
    print("| line of | seconds | ÷ baseline |\n|---|---:|---:|")
    for word in WORDS:
        seconds = _median_seconds((word * (LINE // len(word) + 1))[:LINE])
        print(f"| `{word.strip()}` repeated | {seconds:.3f} | {seconds / base:.1f}× |")
    with tempfile.TemporaryDirectory() as folder:
        small, big = Path(folder) / "small.diff", Path(folder) / "big.diff"
        small.write_text(_one_file_diff("x = 1"), encoding="utf-8")
        big.write_text(_one_file_diff("x" * 50 * 1024 * 1024), encoding="utf-8")
        (small_s, small_kb), (big_s, big_kb) = _dry_run(small), _dry_run(big)
    print("\n| `review --dry-run` | wall s | peak RSS MB |\n|---|---:|---:|")
    print(f"| one-line diff (baseline) | {small_s:.2f} | {small_kb / 1024:.0f} |")
    print(f"| 50 MB one-line diff | {big_s:.2f} | {big_kb / 1024:.0f} |")
    print(f"| ratio | {big_s / small_s:.2f}× | {big_kb / small_kb:.2f}× |")


if __name__ == "__main__":
    main()
