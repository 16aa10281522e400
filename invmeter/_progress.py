"""A minimal progress bar on stderr (no dependency); silent when disabled."""

from __future__ import annotations

import sys
import time


class Progress:
    """``Progress(total, label)``; ``update(k)`` after each batch, ``close()`` at the end."""

    def __init__(self, total: int, label: str, enabled: bool = True, width: int = 30) -> None:
        self.total, self.label, self.width = max(total, 1), label, width
        self.enabled = enabled
        self.done = 0
        self.start = time.perf_counter()
        self._last = 0.0
        self._draw()

    def update(self, k: int) -> None:
        self.done += k
        now = time.perf_counter()
        if now - self._last >= 0.2 or self.done >= self.total:  # redraw at most 5 times a second
            self._last = now
            self._draw()

    def _draw(self) -> None:
        if not self.enabled:
            return
        frac = min(self.done / self.total, 1.0)
        filled = int(frac * self.width)
        elapsed = time.perf_counter() - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        sys.stderr.write(
            f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total} ({rate:.0f}/s)"
        )
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()
